"""GSM8K grade-school math: human worked solutions (``gsm8k``) and distilled traces (``gsm8k_kd``).

``gsm8k`` (hub ``openai/gsm8k``, subset ``main``, or a local folder of ``train.jsonl``/``test.jsonl``
with ``question`` and ``answer``): the expert target is the official worked solution with its
calculator annotations removed (``48/2 = <<48/2=24>>24`` becomes ``48/2 = 24``); each non-empty
solution line before ``####`` is one reasoning line and the text after ``####`` is the answer.

``gsm8k_kd`` (hub ``onnookk/format_vs_content_reasoning_clean_gsm8k`` or a local folder in its
schema): ``answer`` holds a larger model's ``<think>...</think>`` block and then a final
``\\boxed{...}``; the reasoning lines are the non-empty lines of the think block and the answer is
the content of the last ``\\boxed{...}`` after it (nested braces allowed).

Answer normalisation (both datasets): whitespace runs collapse to one space and a number written
with thousands separators loses them (``1,000`` -> ``1000``; 93 of the 8,792 official answers
have them). Everything else stays as written. Dropping the separators gives one spelling per
value, so exact-match rewards need no GSM8K-specific rule; the reasoning lines keep the commas.

A row that yields no gold answer or no reasoning is skipped and counted by
:class:`~reasoning_irl.data.sources.MalformedRows`; a gold answer is never guessed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Optional

from reasoning_irl.data.base import DATASETS, DatasetConfig
from reasoning_irl.data.schema import ANSWER_CLOSE, ANSWER_OPEN, THINK_CLOSE, THINK_OPEN, make_record
from reasoning_irl.data.sources import MalformedRows, read_split

GSM8K_HUB = "openai/gsm8k"
GSM8K_KD_HUB = "onnookk/format_vs_content_reasoning_clean_gsm8k"

_ANNOTATION = re.compile(r"<<[^<>]*>>")
_THOUSANDS = re.compile(r"[-+]?\d{1,3}(?:,\d{3})+(?:\.\d+)?")
_BOXED = re.compile(r"\\boxed\s*\{")
_TAGS = (THINK_OPEN, THINK_CLOSE, ANSWER_OPEN, ANSWER_CLOSE)


@dataclass
class Gsm8kConfig(DatasetConfig):
    name: str = "gsm8k"
    path: str = GSM8K_HUB
    """Hub dataset id, or a local folder holding ``train.jsonl`` and ``test.jsonl`` in the hub schema."""
    subset: Optional[str] = "main"
    """Hub subset (``main`` or ``socratic``); unused for a local folder."""


@dataclass
class Gsm8kKdConfig(DatasetConfig):
    name: str = "gsm8k_kd"
    path: str = GSM8K_KD_HUB
    """Hub dataset id, or a local folder holding ``train.jsonl`` and ``test.jsonl`` (``question``, ``answer``)."""


class Malformed(ValueError):
    """A row that cannot give an expert target; the message is the reason reported."""


def normalize_answer(text: str) -> str:
    """Collapse whitespace; drop thousands separators from a number (``1,000`` -> ``1000``)."""
    text = " ".join(text.split())
    if _THOUSANDS.fullmatch(text):
        text = text.replace(",", "")
    return text


def _lines(text: str) -> list[str]:
    """Non-empty stripped lines; a line holding a target tag would corrupt the target's structure."""
    lines = [line.strip() for line in text.split("\n") if line.strip()]
    if any(tag in line for line in lines for tag in _TAGS):
        raise Malformed("reasoning contains a <think>/<answer> tag")
    return lines


def _answer(text: str) -> str:
    answer = normalize_answer(text)
    if not answer:
        raise Malformed("empty final answer")
    if any(tag in answer for tag in _TAGS):
        raise Malformed("final answer contains a <think>/<answer> tag")
    return answer


def _text(row: dict[str, Any], key: str) -> str:
    value = row.get(key)
    if not isinstance(value, str) or not value.strip():
        raise Malformed(f"missing or empty {key!r}")
    return value


def parse_gsm8k_solution(solution: str) -> tuple[list[str], str]:
    """(reasoning lines, answer) of an official solution; raises :class:`Malformed`."""
    if "####" not in solution:
        raise Malformed("no '####' final-answer marker")
    # The final answer follows the last marker; anything after its line is not an answer.
    body, _, final = solution.rpartition("####")
    if "\n" in final.strip():
        raise Malformed("text after the '####' answer line")
    lines = _lines(_ANNOTATION.sub("", body))
    if not lines:
        raise Malformed("no worked solution before '####'")
    return lines, _answer(final)


def last_boxed(text: str) -> Optional[str]:
    """Content of the last balanced ``\\boxed{...}`` in ``text`` (nested braces kept), or None."""
    found = None
    for match in _BOXED.finditer(text):
        depth, start = 1, match.end()
        for pos in range(start, len(text)):
            if text[pos] == "{":
                depth += 1
            elif text[pos] == "}":
                depth -= 1
                if depth == 0:
                    found = text[start:pos]
                    break
    return found


def parse_kd_answer(completion: str) -> tuple[list[str], str]:
    """(think-block lines, last boxed answer after the block) of a distilled trace; raises :class:`Malformed`."""
    start = completion.find(THINK_OPEN)
    end = completion.find(THINK_CLOSE, start + len(THINK_OPEN)) if start >= 0 else -1
    if start < 0 or end < 0:
        raise Malformed("no <think>...</think> block")
    lines = _lines(completion[start + len(THINK_OPEN) : end])
    if not lines:
        raise Malformed("empty think block")
    # Only the text after the block counts: a \boxed inside the reasoning is a draft, not the answer.
    boxed = last_boxed(completion[end + len(THINK_CLOSE) :])
    if boxed is None:
        raise Malformed("no \\boxed{...} answer after the think block")
    return lines, _answer(boxed)


def convert_rows(
    rows: list[dict[str, Any]], dataset: str, split: str, parse, cfg: DatasetConfig
) -> list[dict[str, Any]]:
    """Records of ``rows`` (``question`` + ``answer`` parsed by ``parse``), malformed rows counted and reported."""
    malformed = MalformedRows(dataset, split)
    records = []
    for index, row in malformed.rows(rows):
        try:
            question = _text(row, "question").strip()
            lines, answer = parse(_text(row, "answer"))
        except Malformed as exc:
            malformed.skip(index, str(exc))
            continue
        records.append(
            make_record(
                f"{dataset}-{split}-{index:05d}",
                question,
                lines,
                answer,
                system_prompt=cfg.system_prompt,
                no_system=cfg.no_system,
            )
        )
    malformed.report()
    return records


@DATASETS.register(
    "gsm8k", config=Gsm8kConfig, description="GSM8K grade-school math with the official worked solutions"
)
def load_gsm8k(cfg: Gsm8kConfig, split: str) -> list[dict[str, Any]]:
    rows = read_split(cfg.path, split, "gsm8k", cfg.subset)
    return convert_rows(rows, "gsm8k", split, parse_gsm8k_solution, cfg)


@DATASETS.register(
    "gsm8k_kd", config=Gsm8kKdConfig, description="GSM8K questions with <think> traces distilled from a larger model"
)
def load_gsm8k_kd(cfg: Gsm8kKdConfig, split: str) -> list[dict[str, Any]]:
    rows = read_split(cfg.path, split, "gsm8k_kd")
    return convert_rows(rows, "gsm8k_kd", split, parse_kd_answer, cfg)
