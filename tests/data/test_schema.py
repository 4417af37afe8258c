import pytest

from reasoning_irl.data.schema import (
    DEFAULT_SYSTEM_PROMPT,
    build_prompt,
    check_record,
    format_target,
    make_record,
    reasoning_steps,
)


def test_format_target_layout_and_spans():
    target, steps = format_target(["12 + 5 = 17", "  17 - 3 = 14 ", ""], "14")
    assert target == "<think>\n12 + 5 = 17\n17 - 3 = 14\n</think>\n<answer>\n14\n</answer>"
    # "<think>\n" is 8 characters; each line is followed by one newline.
    assert steps == [[8, 19], [20, 31]]
    assert [target[a:b] for a, b in steps] == ["12 + 5 = 17", "17 - 3 = 14"]


def test_format_target_rejects_multiline_answer():
    with pytest.raises(ValueError):
        format_target(["1 + 1 = 2"], "2\n3")
    with pytest.raises(ValueError):
        format_target(["1 + 1 = 2"], " ")


def test_reasoning_steps_of_free_text():
    text = "<think>\n  a = 1\n\nb = 2  \n</think>\n<answer>\n2\n</answer>"
    spans = reasoning_steps(text)
    assert [text[a:b] for a, b in spans] == ["a = 1", "b = 2"]
    assert reasoning_steps("no tags here") == []
    assert reasoning_steps("<think>x</think>") == [[7, 8]]


def test_build_prompt_with_and_without_system():
    assert build_prompt("Q?") == [
        {"role": "system", "content": DEFAULT_SYSTEM_PROMPT},
        {"role": "user", "content": "Q?"},
    ]
    merged = build_prompt("Q?", system_prompt="Do it.", no_system=True)
    assert merged == [{"role": "user", "content": "Do it.\n\nQ?"}]


def test_make_and_check_record():
    rec = make_record("x-1", "Q?", ["1 + 1 = 2"], "2", options={"A": "2"})
    check_record(rec)
    assert rec["answer"] == "2" and rec["options"] == {"A": "2"}
    rec["steps"] = [[0, 1]]
    with pytest.raises(ValueError, match="steps do not match"):
        check_record(rec)
    with pytest.raises(ValueError, match="misses keys"):
        check_record({"id": "y"})
