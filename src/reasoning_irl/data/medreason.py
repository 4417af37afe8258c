"""Medical multiple choice: MedReason expert reasoning on MedQA/MedMCQA, or plain MedQA files.

Hub source (``UCSC-VLAA/MedReason``, a single ``train`` split): only rows whose ``dataset_name``
is ``medqa`` or ``medmcqa`` are kept (the other sources are open-ended or yes/no). ``options`` is
one string (``"Answer Choices:\\nA. ...\\nB. ..."``) parsed into ``{letter: text}``; ``answer`` is
the gold option's text, possibly followed by ``". Explanation: ..."``, and the gold letter is the
one option whose text equals it (case and whitespace ignored). The hub has no test split, so a
seeded ``test_size`` questions are carved out as test; rows sharing a question text always land
on the same side, so train and test never share a question.

Local source (``path`` = a folder with ``train.jsonl`` / ``test.jsonl``, e.g. ``../shared/data/medqa``,
which has only ``test.jsonl``): MedQA rows with ``question``, ``options`` (a dict; an options
string as above also works), ``answer`` (option text) and/or ``answer_idx`` (letter), and an
optional ``reasoning``. Its splits are used as they are; nothing is carved.

Record: the user turn is the question, a blank line, then one ``A. text`` line per option;
``answer`` is the gold LETTER, with extras ``options`` (dict) and ``answer_text``. The expert
reasoning lines are the row's ``reasoning`` lines (MedReason's knowledge-graph-grounded chains).
MedQA files carry no reasoning: their target is the single line ``The correct option is C:
<text>.`` -- a restatement of the gold answer, not a demonstration of reasoning, so such rows
are useful for evaluation and answer-format training only.

Option texts are whitespace-normalised to one line, and the stray ``\\n"`` that ends 52 MedQA
test options (a scraping artifact) is dropped. Rows whose gold letter is not an option, whose
answer text matches no option (or several), or with fewer than 2 options are skipped and counted
by :class:`~reasoning_irl.data.sources.MalformedRows`; a gold answer is never guessed.
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass
from typing import Any

from reasoning_irl.data.base import DATASETS, DatasetConfig, raise_config
from reasoning_irl.data.schema import ANSWER_CLOSE, ANSWER_OPEN, THINK_CLOSE, THINK_OPEN, make_record
from reasoning_irl.data.sources import MalformedRows, is_local, read_hub_split, read_local_split

MEDREASON_HUB = "UCSC-VLAA/MedReason"
KEEP_SOURCES = ("medqa", "medmcqa")
"""MedReason ``dataset_name`` values kept: the multiple-choice sources."""

_OPTION_LINE = re.compile(r"^\s*\(?([A-Z])\s*[.):]\s*(.*)$")
_EXPLANATION = re.compile(r"\.?\s*Explanation\s*:", re.IGNORECASE)
_TAGS = (THINK_OPEN, THINK_CLOSE, ANSWER_OPEN, ANSWER_CLOSE)


@dataclass
class MedReasonConfig(DatasetConfig):
    name: str = "medreason"
    path: str = MEDREASON_HUB
    """Hub dataset id (MedReason schema), or a local folder of MedQA-format ``<split>.jsonl`` files."""
    test_size: int = 2000
    """Hub only: distinct questions (of the kept MedQA/MedMCQA rows) carved from the hub's single split as test."""
    test_seed: int = 0
    """Hub only: seed of that test carve, apart from ``seed`` so the test set stays fixed across training seeds."""

    def check(self) -> None:
        super().check()
        if self.test_size < 1:
            raise_config(f"dataset.test_size must be >= 1, got {self.test_size}")


class Malformed(ValueError):
    """A row that cannot give a gold letter; the message is the reason reported."""


def clean_option(text: str) -> str:
    """One-line option text: MedQA's trailing ``\\n"`` artifact dropped, whitespace collapsed."""
    return " ".join(re.sub(r'\n"\s*$', "", text).split())


def _key(text: str) -> str:
    """Comparison form of an option/answer text: case, whitespace and a final period ignored."""
    return clean_option(text).rstrip(". ").casefold()


def parse_options(options: Any) -> dict[str, str]:
    """``{letter: text}`` from a dict, a JSON object/list string, or ``"A. ...\\nB. ..."`` lines."""
    if isinstance(options, str):
        try:
            options = json.loads(options)
        except json.JSONDecodeError:
            pass
    if isinstance(options, list):
        options = {chr(ord("A") + i): text for i, text in enumerate(options)}
    if isinstance(options, dict):
        return {str(k).strip().upper(): clean_option(str(v)) for k, v in options.items() if str(v).strip()}
    if not isinstance(options, str):
        return {}
    parsed: dict[str, str] = {}
    letter = None
    for line in options.split("\n"):
        match = _OPTION_LINE.match(line)
        # Only the next letter starts an option, so "B) ..." inside an option's text stays text.
        if match and match.group(1) == chr(ord("A") + len(parsed)):
            letter = match.group(1)
            parsed[letter] = match.group(2)
        elif letter and line.strip():  # a wrapped option line continues the current option
            parsed[letter] += " " + line.strip()
    return {k: clean_option(v) for k, v in parsed.items() if v.strip()}


def gold_letter(options: dict[str, str], answer: Any, letter: Any) -> str:
    """The gold letter from ``letter`` and/or the answer text; raises :class:`Malformed`."""
    if len(options) < 2:
        raise Malformed(f"{len(options)} option(s), need at least 2")
    # MedReason appends ". Explanation: ..." to the option text; only the text before it is compared.
    text = _EXPLANATION.split(answer, 1)[0] if isinstance(answer, str) and answer.strip() else None
    if letter is not None and str(letter).strip():
        letter = str(letter).strip().upper()
        if letter not in options:
            raise Malformed(f"gold letter {letter!r} is not an option")
        if text is not None and _key(text) != _key(options[letter]):
            raise Malformed(f"answer text disagrees with option {letter}")
        return letter
    if text is None:
        raise Malformed("no answer text and no gold letter")
    matches = [k for k, v in options.items() if _key(v) == _key(text)]
    if len(matches) != 1:
        raise Malformed("answer text matches no option" if not matches else f"answer text matches options {matches}")
    return matches[0]


def question_text(question: str, options: dict[str, str]) -> str:
    """The user turn: the question, a blank line, then ``A. text`` lines."""
    return question.strip() + "\n\n" + "\n".join(f"{k}. {v}" for k, v in options.items())


def convert_row(row: dict[str, Any], record_id: str, cfg: MedReasonConfig) -> dict[str, Any]:
    """A schema record of one MedReason or MedQA row; raises :class:`Malformed`."""
    question = row.get("question")
    if not isinstance(question, str) or not question.strip():
        raise Malformed("missing question")
    options = parse_options(row.get("options"))
    letter = gold_letter(options, row.get("answer"), row.get("answer_idx"))
    reasoning = row.get("reasoning") or ""
    lines = [line.strip() for line in str(reasoning).split("\n") if line.strip()]
    if any(tag in line for line in lines for tag in _TAGS):
        raise Malformed("reasoning contains a <think>/<answer> tag")
    if not lines:  # MedQA files: restate the gold option (see the module docstring)
        lines = [f"The correct option is {letter}: {options[letter].rstrip('.')}."]
    return make_record(
        record_id,
        question_text(question, options),
        lines,
        letter,
        system_prompt=cfg.system_prompt,
        no_system=cfg.no_system,
        options=options,
        answer_text=options[letter],
    )


def convert(indexed_rows: list[tuple[int, dict[str, Any]]], split: str, cfg: MedReasonConfig) -> list[dict[str, Any]]:
    """Records of ``(source index, row)`` pairs; ids carry the source index, malformed rows are reported."""
    malformed = MalformedRows("medreason", split)
    records = []
    for _, (index, row) in malformed.rows(indexed_rows):
        try:
            records.append(convert_row(row, f"medreason-{split}-{index:05d}", cfg))
        except Malformed as exc:
            malformed.skip(index, str(exc))
    malformed.report()
    return records


def question_key(row: dict[str, Any]) -> str:
    """A row's question up to case and whitespace: the unit the test carve keeps together."""
    return " ".join(str(row.get("question", "")).split()).casefold()


def carve_test(rows: list[tuple[int, dict[str, Any]]], test_size: int, seed: int) -> set[str]:
    """Question keys of the seeded test carve (``test_size`` distinct questions)."""
    keys = sorted({question_key(row) for _, row in rows})  # sorted: independent of hub row order
    if test_size >= len(keys):
        raise_config(f"dataset medreason: test_size={test_size} leaves no training questions out of {len(keys)}")
    return set(random.Random(f"{seed}-medreason-test").sample(keys, test_size))


def hub_rows(cfg: MedReasonConfig, split: str) -> list[tuple[int, dict[str, Any]]]:
    """The hub's MedQA/MedMCQA rows of our ``train`` or carved ``test`` split, with hub row indices."""
    rows = read_hub_split(cfg.path, "train", "medreason")
    kept = [(i, row) for i, row in enumerate(rows) if str(row.get("dataset_name", "")).strip().lower() in KEEP_SOURCES]
    if not kept:
        raise_config(f"dataset medreason: no rows of {cfg.path} have dataset_name in {list(KEEP_SOURCES)}")
    test_keys = carve_test(kept, cfg.test_size, cfg.test_seed)
    want_test = split == "test"
    return [(i, row) for i, row in kept if (question_key(row) in test_keys) == want_test]


@DATASETS.register(
    "medreason", config=MedReasonConfig, description="MedQA/MedMCQA multiple choice with MedReason expert reasoning"
)
def load_medreason(cfg: MedReasonConfig, split: str) -> list[dict[str, Any]]:
    if is_local(cfg.path):
        indexed = list(enumerate(read_local_split(cfg.path, split, "medreason")))
    else:
        indexed = hub_rows(cfg, split)
    return convert(indexed, split, cfg)
