"""Answer extraction: the last <answer> block, then \\boxed{}, then ####; chat-message completions."""

from __future__ import annotations

import pytest

from reasoning_irl.data.schema import format_target
from reasoning_irl.rewards.extraction import completion_text, extract_answer, last_boxed

EXPERT = "<think>\n12 + 5 = 17\n17 - 3 = 14\n</think>\n<answer>\n14\n</answer>"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (EXPERT, "14"),
        ("<answer>3</answer> then <answer> 7 </answer>", "7"),  # last block wins
        ("<answer>\n\\boxed{12}\n</answer>", "\\boxed{12}"),  # block content verbatim
        ("<answer>  \n </answer>", ""),  # empty block is an (empty) answer, not a fallback
        ("<answer></answer> \\boxed{5}", ""),
        ("so the result is \\boxed{12}.", "12"),
        ("\\boxed{1} and finally \\boxed{\\frac{1}{2}}", "\\frac{1}{2}"),  # last box, nested braces
        ("\\boxed{\\frac{\\sqrt{2}}{2}}", "\\frac{\\sqrt{2}}{2}"),
        ("first \\boxed{4} then a truncated \\boxed{\\frac{1", "4"),  # unbalanced last box skipped
        ("Natalia sold 48/2 = 24 clips.\n#### 72", "72"),
        ("#### 5\nmore text\n#### 72\ntrailing", "72"),
        ("####", None),
        ("<answer>9", None),  # unclosed block (truncated) is not an answer
        ("the answer is 42", None),  # no tags, no box, no ####
        ("", None),
        (None, None),
        ("\\boxed{3} #### 4", "3"),  # \boxed before ####
        ("<answer>A</answer> \\boxed{B} #### C", "A"),  # <answer> before everything
    ],
)
def test_extract_answer(text, expected):
    assert extract_answer(text) == expected


def test_expert_target_from_schema_roundtrips():
    target, _ = format_target(["12 + 5 = 17", "17 - 3 = 14"], "14")
    assert target == EXPERT
    assert extract_answer(target) == "14"


def test_last_boxed_absent():
    assert last_boxed("no box here") is None


@pytest.mark.parametrize(
    ("completion", "expected"),
    [
        ("plain", "plain"),
        ([{"role": "assistant", "content": "a"}], "a"),
        (
            [
                {"role": "user", "content": "q"},
                {"role": "assistant", "content": "a1"},
                {"role": "assistant", "content": "a2"},
            ],
            "a2",
        ),
        ([{"role": "user", "content": "only user"}], "only user"),
        ({"role": "assistant", "content": "single dict"}, "single dict"),
        ([{"role": "assistant", "content": [{"type": "text", "text": "x"}, {"type": "text", "text": "y"}]}], "xy"),
        ([{"role": "assistant", "content": None}], ""),
        ([], ""),
        (None, ""),
    ],
)
def test_completion_text(completion, expected):
    assert completion_text(completion) == expected


def test_completion_text_restores_parsed_think_block():
    # TRL's parse_response (response-schema tokenizers) moves the think block into reasoning_content.
    message = {
        "role": "assistant",
        "reasoning_content": "12 + 5 = 17\n17 - 3 = 14",
        "content": "<answer>\n14\n</answer>",
    }
    assert completion_text([message]) == EXPERT
    message_with_think = {"role": "assistant", "reasoning_content": "ignored", "content": EXPERT}
    assert completion_text([message_with_think]) == EXPERT


def test_extract_answer_from_messages():
    assert extract_answer([{"role": "assistant", "content": EXPERT}]) == "14"
