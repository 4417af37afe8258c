"""Sequence-score selectors and answer-span location, on hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest

from reasoning_irl.evaluation import SELECTORS, answer_token_span, score_all
from reasoning_irl.evaluation.selectors import discounted_returns

R = [1.0, -2.0, 3.0]


def test_discounted_returns_by_hand():
    # gamma = 0.5: A2 = 3; A1 = -2 + 0.5*3 = -0.5; A0 = 1 + 0.5*(-0.5) = 0.75.
    assert discounted_returns(R, 0.5).tolist() == pytest.approx([0.75, -0.5, 3.0])
    # gamma = 1: plain suffix sums [2, 1, 3].
    assert discounted_returns(R, 1.0).tolist() == pytest.approx([2.0, 1.0, 3.0])
    assert discounted_returns([], 0.9).size == 0


def test_each_selector_by_hand():
    assert set(SELECTORS.names()) == {"sum", "mean", "min", "last", "discounted_answer"}
    scores = score_all(R, (1, 3), 0.5)
    assert scores == pytest.approx(
        {
            "sum": 2.0,
            "mean": 2.0 / 3.0,
            "min": -2.0,
            "last": 3.0,
            "discounted_answer": (-0.5 + 3.0) / 2,  # mean of A1, A2
        }
    )
    # Named subset, numpy input.
    assert score_all(np.array(R), (1, 3), 0.5, names=["min"]) == {"min": -2.0}


def test_discounted_answer_fallbacks():
    f = SELECTORS.get("discounted_answer")
    mean_a = (0.75 - 0.5 + 3.0) / 3
    assert f(R, None, 0.5) == pytest.approx(mean_a)
    assert f(R, (2, 2), 0.5) == pytest.approx(mean_a)  # empty span
    assert f(R, (5, 9), 0.5) == pytest.approx(mean_a)  # empty once clipped
    assert f(R, (1, 99), 0.5) == pytest.approx(1.25)  # clipped to (1, 3)
    assert f(R, (0, 1), 0.0) == pytest.approx(1.0)  # gamma 0: A = r


def test_empty_rewards_score_zero():
    assert score_all([], (0, 1), 0.9) == {name: 0.0 for name in SELECTORS.names()}


def test_answer_span_tags_split_across_tokens():
    tokens = ["<th", "ink>", "x", "</think>", "\n<ans", "wer>\n", "4", "2", "\n</", "answer>"]
    # Content "\n42\n" stripped to "42" = tokens 6 and 7.
    assert answer_token_span(tokens) == (6, 8)


def test_answer_span_tokens_sharing_tag_characters():
    # The content starts inside the token that closes the open tag and ends inside the close tag's token.
    assert answer_token_span(["<answer", ">12", "</answer>"]) == (1, 2)
    assert answer_token_span(["<answer>4", "2</answer>"]) == (0, 2)
    assert answer_token_span(["<", "answer", ">", " 7 ", "</answer>", "\n"]) == (3, 4)


def test_answer_span_uses_last_block():
    tokens = ["<answer>", "1", "</answer>", " then ", "<answer>", "2", "3", "</answer>"]
    assert answer_token_span(tokens) == (5, 7)


def test_answer_span_absent_or_empty():
    assert answer_token_span(["no", " answer", " here"]) is None
    assert answer_token_span(["<answer>", "5"]) is None  # unclosed (truncated)
    assert answer_token_span([]) is None
    # An empty block is present but covers no token.
    assert answer_token_span(["a", "<answer>", "\n", "</answer>"]) == (3, 3)
    start, end = answer_token_span(["<answer>", "</answer>"])
    assert start == end
