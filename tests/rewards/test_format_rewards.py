"""Format rewards on hand-made strings; every expected value is computed by hand in the comments."""

from __future__ import annotations

import pytest

from reasoning_irl.rewards.format import numeric_answer, soft_format, strict_format, tag_count

EXPERT = "<think>\n12 + 5 = 17\n17 - 3 = 14\n</think>\n<answer>\n14\n</answer>"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (EXPERT, 1.0),
        (EXPERT + "\n", 1.0),  # one trailing newline allowed
        (EXPERT + "\n\n", 0.0),
        (" " + EXPERT, 0.0),  # nothing before
        (EXPERT + " done", 0.0),  # nothing after
        ("<think>\nok\n</think>\n\n<answer>\n14\n</answer>", 0.0),  # blank line between blocks
        ("<think>\nok\n</think>\n<answer>14</answer>", 0.0),  # answer not on its own line
        ("<think>\n\n</think>\n<answer>\n14\n</answer>", 0.0),  # blank reasoning
        ("<think>\nok\n</think>\n<answer>\n \n</answer>", 0.0),  # blank answer
        ("<think>\na\n</think>\n<think>\nb\n</think>\n<answer>\n1\n</answer>", 0.0),  # tag inside a body
        ("<answer>\n14\n</answer>", 0.0),
    ],
)
def test_strict_format(text, expected):
    assert strict_format(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (EXPERT, 1.0),
        ("<think>a</think><answer>b</answer>", 1.0),
        ("preamble <think> a </think>\n\n  <answer> b </answer> trailing", 1.0),
        ("<answer>b</answer><think>a</think>", 0.0),  # wrong order
        ("<think>a</think> so <answer>b</answer>", 0.0),  # text between the blocks
        ("<answer>b</answer>", 0.0),
        ("<think>a</think>\n<answer>b", 0.0),  # unclosed answer
        ("", 0.0),
    ],
)
def test_soft_format(text, expected):
    assert soft_format(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (EXPERT, 0.5),  # 4 placements x 0.125
        (EXPERT + "\n", 0.5),  # trailing whitespace is free
        (EXPERT + "abc", 0.497),  # 0.5 - 3 x 0.001
        (EXPERT + "\nThe end.", 0.492),  # "The end." = 8 chars -> 0.5 - 0.008
        ("<think>\na</think>\n<answer>\nb\n</answer>", 0.375),  # "a</think>" misses the leading \n
        ("<think>\na\n</think>\n<think>\nb\n</think>\n<answer>\nc\n</answer>", 0.25),  # think tags twice
        ("<answer>\n5\n</answer>", 0.125),  # <answer> at the very start has no leading \n
        ("<think>a</think><answer>b</answer>", 0.0),  # tags present but no newline placements
        ("x</answer>" + "y" * 300, 0.0),  # 0 - 0.300, floored at 0
        ("", 0.0),
    ],
)
def test_tag_count(text, expected):
    assert tag_count(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (EXPERT, 1.0),
        ("<answer>\n$1,234\n</answer>", 1.0),
        ("<answer>\n18 dollars\n</answer>", 1.0),
        ("<answer>\n-3/4\n</answer>", 1.0),
        ("<answer>\nx = 5\n</answer>", 0.0),
        ("<answer>\n\\frac{1}{2}\n</answer>", 0.0),  # LaTeX is not a plain number
        ("<answer></answer>", 0.0),
        ("<answer>5</answer> then <answer>five</answer>", 0.0),  # last block decides
        ("\\boxed{5}", 0.0),  # only the answer block counts, no fallbacks
    ],
)
def test_numeric_answer(text, expected):
    assert numeric_answer(text) == expected


def test_rewards_return_floats():
    for fn in (strict_format, soft_format, tag_count, numeric_answer):
        assert type(fn(EXPERT)) is float
        assert type(fn("")) is float
