"""The one record schema every dataset produces, and the expert-target format.

A record is a plain dict (JSON- and ``datasets``-friendly):

- ``id``: stable string id, e.g. ``gsm8k-train-00042`` (validation rows keep their train id);
- ``prompt``: chat messages, ``[{"role": "system", ...}, {"role": "user", ...}]``, or a single
  user turn holding instruction + question when ``no_system`` is set;
- ``target``: the expert completion, see :func:`format_target`;
- ``answer``: the gold final answer string;
- ``steps``: ``[[start, end], ...]`` character spans of each reasoning line inside ``target``;
- dataset-specific extras (``options`` for multiple choice, ...).
"""

from __future__ import annotations

import re
from typing import Any

THINK_OPEN, THINK_CLOSE = "<think>", "</think>"
ANSWER_OPEN, ANSWER_CLOSE = "<answer>", "</answer>"

DEFAULT_SYSTEM_PROMPT = (
    "You are a careful problem solver. Reason step by step inside <think> and </think>, "
    "writing one step per line, then give only the final answer inside <answer> and </answer>. "
    "Format:\n<think>\nstep 1\nstep 2\n</think>\n<answer>\nfinal answer\n</answer>"
)

REQUIRED_KEYS = ("id", "prompt", "target", "answer", "steps")

_THINK_BLOCK = re.compile(re.escape(THINK_OPEN) + r"\n?(.*?)" + re.escape(THINK_CLOSE), re.DOTALL)


def format_target(reasoning_lines: list[str], answer: str) -> tuple[str, list[list[int]]]:
    """Build ``<think>\\n...lines...\\n</think>\\n<answer>\\nFINAL\\n</answer>`` and the line spans.

    Lines are stripped and empty ones dropped; a line may not contain a newline.
    """
    lines = [line.strip() for line in reasoning_lines if line and line.strip()]
    for line in lines:
        if "\n" in line:
            raise ValueError(f"a reasoning line may not contain a newline: {line!r}")
    answer = answer.strip()
    if not answer or "\n" in answer:
        raise ValueError(f"the final answer must be one non-empty line, got {answer!r}")
    head = THINK_OPEN + "\n"
    steps: list[list[int]] = []
    pos = len(head)
    for line in lines:
        steps.append([pos, pos + len(line)])
        pos += len(line) + 1
    body = "".join(line + "\n" for line in lines)
    target = f"{head}{body}{THINK_CLOSE}\n{ANSWER_OPEN}\n{answer}\n{ANSWER_CLOSE}"
    return target, steps


def reasoning_steps(text: str) -> list[list[int]]:
    """Character spans of the non-empty lines inside the first ``<think>`` block of ``text``.

    Works on any completion (expert, perturbed or sampled); ``[]`` when there is no think block.
    For a target built by :func:`format_target` this equals its ``steps``.
    """
    match = _THINK_BLOCK.search(text)
    if not match:
        return []
    spans: list[list[int]] = []
    pos = match.start(1)
    for line in match.group(1).split("\n"):
        stripped = line.strip()
        if stripped:
            start = pos + line.index(stripped)
            spans.append([start, start + len(stripped)])
        pos += len(line) + 1
    return spans


def build_prompt(question: str, system_prompt: str | None = None, no_system: bool = False) -> list[dict[str, str]]:
    """Chat messages for a question: a system turn + user turn, or one merged user turn."""
    instruction = DEFAULT_SYSTEM_PROMPT if system_prompt is None else system_prompt
    if no_system:
        return [{"role": "user", "content": f"{instruction}\n\n{question}"}]
    return [{"role": "system", "content": instruction}, {"role": "user", "content": question}]


def make_record(
    id: str,
    question: str,
    reasoning_lines: list[str],
    answer: str,
    *,
    system_prompt: str | None = None,
    no_system: bool = False,
    **extras: Any,
) -> dict[str, Any]:
    """Assemble a schema record from a question, expert reasoning lines and the gold answer."""
    target, steps = format_target(reasoning_lines, answer)
    record = {
        "id": id,
        "prompt": build_prompt(question, system_prompt, no_system),
        "target": target,
        "answer": answer.strip(),
        "steps": steps,
    }
    record.update(extras)
    return record


def check_record(record: dict[str, Any]) -> None:
    """Raise ``ValueError`` if ``record`` does not follow the schema (used by tests and loaders)."""
    missing = [k for k in REQUIRED_KEYS if k not in record]
    if missing:
        raise ValueError(f"record {record.get('id', '?')} misses keys {missing}")
    if not record["prompt"] or record["prompt"][-1]["role"] != "user":
        raise ValueError(f"record {record['id']}: prompt must end with a user turn")
    if reasoning_steps(record["target"]) != record["steps"]:
        raise ValueError(f"record {record['id']}: steps do not match the target's reasoning lines")


def user_question(record: dict[str, Any]) -> str:
    """The user turn's text of a record's prompt."""
    return record["prompt"][-1]["content"]
