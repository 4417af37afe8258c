"""Turn one completion's per-token rewards into one sequence score for reranking.

Every selector has the signature ``fn(token_rewards, answer_span, gamma) -> float`` so the
caller can score with all of them uniformly; selectors that do not need the answer span or
the discount simply ignore them. An empty reward sequence scores 0.0 under every selector
(a completion with no tokens carries no evidence either way, and a finite score keeps sorting
and softmax weighting well defined).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from reasoning_irl.registry import Registry
from reasoning_irl.rewards.extraction import last_answer_span

__all__ = ["SELECTORS", "answer_token_span", "discounted_returns", "score_all"]

Selector = Callable[[Sequence[float] | np.ndarray, "tuple[int, int] | None", float], float]
SELECTORS: Registry[Selector] = Registry("rerank selector")


def _as_array(token_rewards: Sequence[float] | np.ndarray) -> np.ndarray:
    # np.asarray also accepts a CPU torch tensor; float64 so sums are not precision-limited.
    return np.asarray(token_rewards, dtype=np.float64).reshape(-1)


def discounted_returns(token_rewards: Sequence[float] | np.ndarray, gamma: float) -> np.ndarray:
    """Reward-to-go A_t = r_t + gamma * A_{t+1} with A_T = 0, for every token t."""
    r = _as_array(token_rewards)
    out = np.empty_like(r)
    acc = 0.0
    for t in range(r.size - 1, -1, -1):
        acc = r[t] + gamma * acc
        out[t] = acc
    return out


@SELECTORS.register("sum")
def _sum(token_rewards, answer_span, gamma) -> float:
    r = _as_array(token_rewards)
    return float(r.sum()) if r.size else 0.0


@SELECTORS.register("mean")
def _mean(token_rewards, answer_span, gamma) -> float:
    r = _as_array(token_rewards)
    return float(r.mean()) if r.size else 0.0


@SELECTORS.register("min")
def _min(token_rewards, answer_span, gamma) -> float:
    r = _as_array(token_rewards)
    return float(r.min()) if r.size else 0.0


@SELECTORS.register("last")
def _last(token_rewards, answer_span, gamma) -> float:
    r = _as_array(token_rewards)
    return float(r[-1]) if r.size else 0.0


@SELECTORS.register("discounted_answer")
def _discounted_answer(token_rewards, answer_span, gamma) -> float:
    """Mean discounted reward-to-go over the answer tokens [start, end).

    The returns run over the whole completion, so each answer token's value still sees the
    reward of everything after it. With no answer span (or one empty after clipping to the
    sequence) the mean of A over all tokens is used instead, so unanswered completions remain
    comparable rather than being dropped.
    """
    a = discounted_returns(token_rewards, gamma)
    if a.size == 0:
        return 0.0
    if answer_span is not None:
        start, end = max(0, answer_span[0]), min(a.size, answer_span[1])
        if start < end:
            return float(a[start:end].mean())
    return float(a.mean())


def score_all(
    token_rewards: Sequence[float] | np.ndarray,
    answer_span: tuple[int, int] | None,
    gamma: float,
    names: Sequence[str] | None = None,
) -> dict[str, float]:
    """Score one completion with each named selector (default: all registered)."""
    r = _as_array(token_rewards)
    return {name: SELECTORS.get(name)(r, answer_span, gamma) for name in (names or SELECTORS.names())}


def answer_token_span(token_texts: Sequence[str]) -> tuple[int, int] | None:
    """[start, end) token indices covering the content of the LAST ``<answer>...</answer>``.

    Tags may be split across tokens: the tokens are joined, the block is found in characters,
    and every token whose character range overlaps the content is included. Surrounding
    whitespace is stripped from the content first (the expert layout puts the answer on its own
    line), so a lone newline token is not counted as answer. An empty block gives an empty span
    (start == end) at the token where the content would begin; no closed block gives None.
    """
    text = "".join(token_texts)
    span = last_answer_span(text)  # one pass, so a long completion of unclosed tags stays cheap
    if span is None:
        return None
    raw_start, raw_end = span
    content = text[raw_start:raw_end]
    cs = raw_start + (len(content) - len(content.lstrip()))
    ce = raw_end - (len(content) - len(content.rstrip()))
    offsets = np.cumsum([0] + [len(t) for t in token_texts])
    starts, ends = offsets[:-1], offsets[1:]
    if cs >= ce:
        # First token that ends after the content position; the close tag guarantees one exists.
        first = int(np.argmax(ends > cs))
        return (first, first)
    hit = np.flatnonzero((starts < ce) & (ends > cs) & (ends > starts))
    return (int(hit[0]), int(hit[-1]) + 1)
