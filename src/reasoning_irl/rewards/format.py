"""Format rewards on one completion text, in the style of the common GRPO recipe. All return floats.

- :func:`strict_format`: 1.0 iff the text is exactly
  ``<think>\\nREASONING\\n</think>\\n<answer>\\nANSWER\\n</answer>`` plus at most one trailing newline,
  with non-blank REASONING and ANSWER that contain none of the four tags; else 0.0.
- :func:`soft_format`: 1.0 iff a ``<think>...</think>`` block is followed (only whitespace between)
  by an ``<answer>...</answer>`` block anywhere in the text; else 0.0.
- :func:`tag_count`: 0.125 for each of four placements whose tag occurs exactly once:
  ``<think>`` followed by ``\\n``; ``</think>`` with ``\\n`` on both sides; ``<answer>`` with ``\\n``
  on both sides; ``</answer>`` preceded by ``\\n``. Minus 0.001 per character of the text after the
  last ``</answer>`` once stripped (so trailing whitespace is free); floored at 0.0. The expert layout
  scores 0.5; with ``"abc"`` after ``</answer>`` it scores 0.5 - 0.003 = 0.497.
- :func:`numeric_answer`: 1.0 iff the ``<answer>`` block parses as a plain number
  (:func:`~reasoning_irl.rewards.correctness.parse_number`); else 0.0.

Each runs in time linear in the text (string searches, or a regex only once each tag is known to occur
exactly once), so an adversarial completion cannot stall grading.
"""

from __future__ import annotations

import re

from reasoning_irl.data.schema import ANSWER_CLOSE, ANSWER_OPEN, THINK_CLOSE, THINK_OPEN
from reasoning_irl.rewards.correctness import parse_number
from reasoning_irl.rewards.extraction import last_answer_block

_TAGS = (THINK_OPEN, THINK_CLOSE, ANSWER_OPEN, ANSWER_CLOSE)
_T_OPEN, _T_CLOSE, _A_OPEN, _A_CLOSE = (re.escape(t) for t in _TAGS)
_STRICT = re.compile(rf"{_T_OPEN}\n(.*)\n{_T_CLOSE}\n{_A_OPEN}\n(.*)\n{_A_CLOSE}\n?", re.DOTALL)
_SPACE = re.compile(r"\s*")

TAG_CREDIT_MILLIS = 125  # 0.125 per placement, counted in thousandths so sums are exact decimals
TRAILING_PENALTY_MILLIS = 1  # 0.001 per character after </answer>


def strict_format(text: str) -> float:
    """1.0 for exactly the expert layout (see module docstring), else 0.0."""
    # The layout holds each tag once and its bodies none; checking that first also keeps the greedy
    # regex linear (with many candidate tags it would backtrack over each).
    if any(text.count(tag) != 1 for tag in _TAGS):
        return 0.0
    match = _STRICT.fullmatch(text)
    if not match:
        return 0.0
    for body in match.groups():
        if not body.strip() or any(tag in body for tag in _TAGS):
            return 0.0
    return 1.0


def soft_format(text: str) -> float:
    """1.0 if a think block is followed by an answer block anywhere, whitespace-tolerant; else 0.0.

    Same as searching ``<think>.*?</think>\\s*<answer>.*?</answer>`` (DOTALL), in one pass: some ``</think>``
    after the first ``<think>`` is followed, past whitespace, by ``<answer>`` with a ``</answer>`` later on.
    """
    first = text.find(THINK_OPEN)
    last_close = text.rfind(ANSWER_CLOSE)
    if first == -1 or last_close == -1:
        return 0.0
    pos = first + len(THINK_OPEN)
    while (close := text.find(THINK_CLOSE, pos)) != -1:
        after = _SPACE.match(text, close + len(THINK_CLOSE)).end()
        if text.startswith(ANSWER_OPEN, after) and last_close >= after + len(ANSWER_OPEN):
            return 1.0
        pos = max(after, close + 1)  # whitespace runs are disjoint, so the scan stays linear
    return 0.0


def tag_count(text: str) -> float:
    """Partial credit per correctly placed, unique tag minus a trailing-text penalty (module docstring)."""
    placements = (
        (THINK_OPEN, f"{THINK_OPEN}\n"),
        (THINK_CLOSE, f"\n{THINK_CLOSE}\n"),
        (ANSWER_OPEN, f"\n{ANSWER_OPEN}\n"),
        (ANSWER_CLOSE, f"\n{ANSWER_CLOSE}"),
    )
    millis = sum(TAG_CREDIT_MILLIS for tag, placed in placements if text.count(tag) == 1 and placed in text)
    if ANSWER_CLOSE in text:
        trailing = text.rsplit(ANSWER_CLOSE, 1)[1].strip()
        millis -= TRAILING_PENALTY_MILLIS * len(trailing)
    return max(millis, 0) / 1000


def numeric_answer(text: str) -> float:
    """1.0 if the ``<answer>`` block holds a plain number, else 0.0."""
    block = last_answer_block(text)
    return 1.0 if block is not None and parse_number(block) is not None else 0.0
