"""Pull the final answer out of a completion.

:func:`extract_answer` looks, in order, for

1. the content of the LAST ``<answer>...</answer>`` block (stripped; an empty block gives ``""``,
   not a fallback, because the model did commit to an answer);
2. the content of the last balanced ``\\boxed{...}`` (nested braces handled);
3. the first line of the text after the last ``####`` (GSM8K style);

and returns ``None`` when none of them is present. An unclosed ``<answer>`` (a truncated
generation) is not an answer block.

Every finder scans each character at most once (``str.find``, one brace scan per region), so grading
time stays proportional to the completion's length whatever the model writes.
"""

from __future__ import annotations

import re
from typing import Any

from reasoning_irl.data.schema import ANSWER_CLOSE, ANSWER_OPEN, THINK_CLOSE, THINK_OPEN

_BOXED = "\\boxed{"
_BRACE = re.compile(r"[{}]")


def _content_text(content: Any) -> str:
    """A message's content as text; multimodal content is a list of ``{"type": "text", ...}`` parts."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") if isinstance(p, dict) else str(p) for p in content)
    return str(content)


def _message_text(message: dict[str, Any]) -> str:
    text = _content_text(message.get("content"))
    # Chat templates with a response schema (e.g. Qwen3 in TRL) move the think block into
    # ``reasoning_content``; put it back so format rewards still see it.
    reasoning = message.get("reasoning_content") or message.get("thinking")
    if isinstance(reasoning, str) and reasoning.strip() and THINK_OPEN not in text:
        text = f"{THINK_OPEN}\n{reasoning.strip()}\n{THINK_CLOSE}\n{text.lstrip()}"
    return text


def completion_text(completion: Any) -> str:
    """Text of a completion given as a string, one message dict, or a list of chat messages.

    For a message list the last assistant message is used (the last message if none is marked
    assistant); ``None`` gives ``""``.
    """
    if completion is None:
        return ""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, dict):
        return _message_text(completion)
    if isinstance(completion, (list, tuple)):
        messages = [m for m in completion if isinstance(m, dict)]
        if not messages:
            return ""
        assistant = [m for m in messages if m.get("role") == "assistant"]
        return _message_text((assistant or messages)[-1])
    return str(completion)


def last_answer_span(text: str) -> tuple[int, int] | None:
    """[start, end) character span of the content of the last ``<answer>...</answer>`` block, or ``None``.

    Blocks are read left to right, each ending at the first ``</answer>`` after its ``<answer>`` (as a
    lazy regex would pair them), but in one pass: a regex retries every unclosed ``<answer>`` to the end.
    """
    found, pos = None, 0
    while (start := text.find(ANSWER_OPEN, pos)) != -1:
        end = text.find(ANSWER_CLOSE, start + len(ANSWER_OPEN))
        if end == -1:
            break
        found, pos = (start + len(ANSWER_OPEN), end), end + len(ANSWER_CLOSE)
    return found


def last_answer_block(text: str) -> str | None:
    """Stripped content of the last ``<answer>...</answer>`` block, or ``None``."""
    span = last_answer_span(text)
    return text[span[0] : span[1]].strip() if span is not None else None


def _box_end(text: str, brace: int, limit: int) -> int | None:
    """Position of the ``}`` closing the ``{`` at ``brace``, searched before ``limit``; None if unclosed."""
    depth = 0
    for m in _BRACE.finditer(text, brace, limit):
        depth += 1 if m.group() == "{" else -1
        if depth == 0:
            return m.start()
    return None


def last_boxed(text: str) -> str | None:
    """Content of the last balanced ``\\boxed{...}``, or ``None``.

    Scans from the last occurrence backwards so a truncated trailing box falls back to an earlier one.
    An earlier box can only close before the ``{`` of a later unclosed box (inside it, its depth stays
    above the later box's), so each scan stops there: every character is scanned at most once.
    """
    limit, start = len(text), text.rfind(_BOXED)
    while start != -1:
        brace = start + len(_BOXED) - 1
        end = _box_end(text, brace, limit)
        if end is not None:
            return text[brace + 1 : end].strip()
        limit, start = brace, text.rfind(_BOXED, 0, start)
    return None


def after_hashes(text: str) -> str | None:
    """First line after the last ``####``, stripped; ``None`` if absent or empty."""
    pos = text.rfind("####")
    if pos == -1:
        return None
    line = text[pos + 4 :].strip().split("\n", 1)[0].strip()
    return line or None


def extract_answer(text: Any) -> str | None:
    """The final answer of a completion (see the module docstring for the order of fallbacks)."""
    text = completion_text(text)
    for finder in (last_answer_block, last_boxed, after_hashes):
        found = finder(text)
        if found is not None:
            return found
    return None
