"""Hard-negative perturbations: each changes exactly the region it reports, or returns None."""

from __future__ import annotations

import json
import random
import re

import pytest

from reasoning_irl.data.schema import format_target, reasoning_steps
from reasoning_irl.registry import UnknownNameError
from reasoning_irl.rewards.perturbations import (
    NUMBER,
    PERTURBATIONS,
    Perturbed,
    corrupt_numbers,
    flip_operator,
    habit_slip,
    is_numeric_answer,
    perturb,
    shift_answer,
    swap_answer,
)

ALL = ["corrupt_numbers", "flip_operator", "shift_answer", "swap_answer"]
SEEDS = range(40)


def target(lines: list[str], answer: str) -> str:
    return format_target(lines, answer)[0]


def lines_of(text: str) -> list[str]:
    return [text[s:e] for s, e in reasoning_steps(text)]


def answer_of(text: str) -> str:
    return re.search(r"<answer>\n(.*)\n</answer>", text).group(1)


def first_diff_step(a: str, b: str) -> int | None:
    """Index of the first reasoning line that differs; None when all lines are equal."""
    la, lb = lines_of(a), lines_of(b)
    for i, (x, y) in enumerate(zip(la, lb)):
        if x != y:
            return i
    return None if len(la) == len(lb) else min(len(la), len(lb))


def check(original: str, result: Perturbed | None) -> None:
    """The invariants every perturbation promises."""
    assert result is not None
    assert result.text != original
    assert result.first_step == first_diff_step(original, result.text)
    if result.first_step is None:  # then only the answer may differ
        assert answer_of(result.text) != answer_of(original)


def test_registry_holds_the_four_perturbations_and_one_opt_in():
    assert PERTURBATIONS.names() == sorted([*ALL, "habit_slip"])
    assert sorted(PERTURBATIONS.registered()) == ALL  # what "every perturbation" means by default


def test_habit_slip_changes_one_result_and_carries_it():
    original = target(["2 + 7 = 9", "9 + 8 = 17", "17 - 5 = 12"], "12")
    for seed in SEEDS:
        result = habit_slip(original, random.Random(seed))
        check(original, result)
        assert result.kind == "habit_slip"
        lines = lines_of(result.text)
        at = result.first_step
        assert at in (0, 1)  # an intermediate result, never the last line's
        left, _, rest = lines[at].partition(" = ")
        assert 1 <= abs(int(rest) - eval(left)) <= 2
        for before, after in zip(lines[at:], lines[at + 1 :]):  # every later line starts from the slipped value
            assert after.split(" ")[0] == before.rsplit(" = ", 1)[1]
            left, _, rest = after.partition(" = ")
            assert int(rest) == eval(left)  # and is right from there
        assert answer_of(result.text) == lines[-1].rsplit(" = ", 1)[1] != "12"
    # By hand, seed 0: the second result, 17, becomes 19 and is carried to the answer.
    assert habit_slip(original, random.Random(0)).text == target(["2 + 7 = 9", "9 + 8 = 19", "19 - 5 = 14"], "14")


@pytest.mark.parametrize(
    "lines", [["First 2 + 7 = 9"], ["2 + 7 = 10"], ["2 + 7 = 9", "8 + 8 = 16"], ["Natalia sold 48/2 = 24 clips."]]
)
def test_habit_slip_needs_a_correct_chain_of_equations(lines):
    # prose around the equation, a wrong equation, a broken chain, GSM8K-style text: no problem to rewrite
    assert habit_slip(target(lines, "9"), random.Random(0)) is None


@pytest.mark.parametrize(
    "text, numbers",
    [
        ("17 - 3 = 14", ["17", "3", "14"]),
        ("H2O 3rd x2 2x well-known", []),
        ("3x4 1,234 3.5 -3 (-7) 17-3", ["3", "4", "1,234", "3.5", "-3", "-7", "17", "3"]),
        ("$12 and 20% of 0.25; 3,4 then 1.5a 67,500.", ["12", "20", "0.25", "3", "4", "67,500"]),
        ("2 - .5 = 1.5. x = -.25", ["2", ".5", "1.5", "-.25"]),
    ],
)
def test_number_regex(text, numbers):
    assert [m.group(0) for m in NUMBER.finditer(text)] == numbers


@pytest.mark.parametrize(
    "answer, ok",
    [
        ("72", True),
        ("-3", True),
        ("67,500", True),
        ("3.5", True),
        ("$10", True),
        ("25%", True),
        ("B", False),
        ("72 apples", False),
        ("H2O", False),
        ("", False),
    ],
)
def test_is_numeric_answer(answer, ok):
    assert is_numeric_answer(answer) is ok


# --- flip_operator ---------------------------------------------------------------------------


def test_flip_operator_changes_one_operator_in_the_only_line_that_has_one():
    original = target(["Start with 17 apples.", "17 - 3 = 14", "So 14 are left."], "14")
    for seed in SEEDS:
        result = flip_operator(original, random.Random(seed))
        check(original, result)
        assert result.first_step == 1 and result.kind == "flip_operator"
        new_line = lines_of(result.text)[1]
        assert new_line[:3] + new_line[4:] == "17  3 = 14" and new_line[3] in "+*/"
        assert answer_of(result.text) == "14"


def test_flip_operator_ignores_signs_and_hyphens_and_maps_x_to_multiplication():
    original = target(["A well-known 3-day trip costs -3 dollars.", "-3 + 5 = 2", "0.2 x 50 = 10"], "10")
    seen = set()
    for seed in SEEDS:
        result = flip_operator(original, random.Random(seed))
        check(original, result)
        before, after = lines_of(original)[result.first_step], lines_of(result.text)[result.first_step]
        diffs = [i for i, (a, b) in enumerate(zip(before, after)) if a != b]
        assert len(before) == len(after) and len(diffs) == 1
        seen.add((result.first_step, before[diffs[0]], after[diffs[0]]))
    # line 0 has no binary operator; "+" never becomes "+", "x" never becomes "*"
    assert {step for step, _, _ in seen} == {1, 2}
    assert {(1, "+", c) for c in "-*/"} | {(2, "x", c) for c in "+-/"} == seen


def test_flip_operator_sees_operators_after_unit_words_and_en_dash():
    lines = ["Anna gets 14 pieces/house * 60 houses = 840 pieces", "So 20 total gnomes \u2013 12 gnomes = 8 gnomes."]
    original = target(lines, "8")
    got = set()
    for seed in SEEDS:
        result = flip_operator(original, random.Random(seed))
        check(original, result)
        after = lines_of(result.text)[result.first_step]
        # the unit's "/" is never touched; only the operator between the two numbers flips
        op = after[after.index("house") + 6] if result.first_step == 0 else after[after.index("gnomes") + 7]
        got.add((result.first_step, op))
    assert got == {(0, "+"), (0, "-"), (0, "/"), (1, "+"), (1, "*"), (1, "/")}


@pytest.mark.parametrize(
    "lines",
    [
        ["The patient has a fever.", "Treat with rest."],
        ["Year 2020 was 3-day long."],
        ["17 -3 is ambiguous", "H2O + air"],
    ],
)
def test_flip_operator_none_without_binary_operator(lines):
    assert flip_operator(target(lines, "B"), random.Random(0)) is None


def test_perturbations_none_without_think_or_answer_block():
    for name in ALL:
        assert PERTURBATIONS.get(name)("17 - 3 = 14", random.Random(0)) is None


# --- shift_answer / swap_answer ----------------------------------------------------------------


@pytest.mark.parametrize(
    "answer, allowed",
    [
        ("72", {str(v) for v in range(65, 80) if v != 72}),  # 10% of 72 -> up to 7
        ("5", {"3", "4", "6", "7"}),  # at least +-2
        ("0", {"1", "2"}),  # a non-negative answer is never pushed below zero
        ("-3", {"-5", "-4", "-2", "-1"}),
        ("3.5", {"1.5", "2.5", "4.5", "5.5"}),  # decimals keep their places
        ("67,500", {f"{v:,}" for v in range(67500 - 6750, 67500 + 6751) if v != 67500}),
        ("$10", {"$8", "$9", "$11", "$12"}),
    ],
)
def test_shift_answer_moves_only_the_answer_nearby(answer, allowed):
    original = target(["48 + 24 = 72"], answer)
    got = set()
    for seed in SEEDS:
        result = shift_answer(original, random.Random(seed))
        check(original, result)
        assert result.first_step is None and result.kind == "shift_answer"
        assert result.text.replace(f"\n{answer_of(result.text)}\n", f"\n{answer}\n") == original
        got.add(answer_of(result.text))
    assert got <= allowed and len(got) > 1


def test_shift_answer_none_for_non_numeric_answers():
    for answer in ["B", "72 apples", "the left lung"]:
        assert shift_answer(target(["48 + 24 = 72"], answer), random.Random(0)) is None


def test_swap_answer_uses_other_numbers_from_the_reasoning():
    original = target(["Natalia sold 48/2 = 24 clips in May.", "Natalia sold 48+24 = 72 clips."], "72")
    got = set()
    for seed in SEEDS:
        result = swap_answer(original, random.Random(seed))
        check(original, result)
        assert result.first_step is None and result.kind == "swap_answer"
        got.add(answer_of(result.text))
    assert got == {"48", "2", "24"}


@pytest.mark.parametrize(
    "lines, answer",
    [
        (["So the total is 72."], "72"),
        (["It is 72.0 in all."], "72"),
        (["No numbers here."], "72"),
        (["48 + 24 = 72"], "B"),
    ],
)
def test_swap_answer_none_without_another_number_or_numeric_answer(lines, answer):
    assert swap_answer(target(lines, answer), random.Random(0)) is None


# --- corrupt_numbers ---------------------------------------------------------------------------


def test_corrupt_numbers_changes_two_or_three_numbers_and_reports_the_earliest_line():
    original = target(["Natalia sold 48/2 = 24 clips.", "No numbers in this line.", "48+24 = 72 clips."], "72")
    counts = set()
    for seed in SEEDS:
        result = corrupt_numbers(original, random.Random(seed))
        check(original, result)
        assert result.kind == "corrupt_numbers" and answer_of(result.text) == "72"
        before = [m.group(0) for m in NUMBER.finditer("\n".join(lines_of(original)))]
        after = [m.group(0) for m in NUMBER.finditer("\n".join(lines_of(result.text)))]
        assert len(before) == len(after) == 6
        counts.add(sum(a != b for a, b in zip(before, after)))
        assert lines_of(result.text)[1] == "No numbers in this line."
    assert counts == {2, 3}


def test_corrupt_numbers_leaves_words_alone_and_handles_a_single_number():
    original = target(["Gandalf says H2O is 3rd on the list.", "H2O boils at 100 degrees."], "yes")
    for seed in SEEDS:
        result = corrupt_numbers(original, random.Random(seed))
        check(original, result)
        assert result.first_step == 1
        assert re.fullmatch(r"H2O boils at \d+ degrees\.", lines_of(result.text)[1])
        assert lines_of(result.text)[0] == lines_of(original)[0]


def test_corrupt_numbers_none_without_numbers():
    assert corrupt_numbers(target(["The patient has a fever.", "H2O helps."], "42"), random.Random(0)) is None


# --- determinism and perturb -------------------------------------------------------------------


def test_perturbations_are_deterministic_per_seed():
    original = target(["Natalia sold 48/2 = 24 clips.", "48 x 24 = 72 clips."], "72")
    for name in ALL:
        fn = PERTURBATIONS.get(name)
        assert fn(original, random.Random(7)) == fn(original, random.Random(7))
    assert perturb(original, ALL, random.Random(3), 6) == perturb(original, ALL, random.Random(3), 6)


def test_perturb_returns_distinct_changed_copies():
    original = target(["Natalia sold 48/2 = 24 clips.", "48 x 24 = 72 clips."], "72")
    results = perturb(original, ALL, random.Random(0), 8)
    assert len(results) == 8
    texts = [r.text for r in results]
    assert len(set(texts)) == 8 and original not in texts
    for r in results:
        check(original, r)


def test_perturb_may_return_fewer_and_rejects_unknown_names():
    original = target(["So the total is 72."], "72")
    # no number besides the answer and no operator: nothing is possible
    assert perturb(original, ["swap_answer", "flip_operator"], random.Random(0), 3) == []
    # shifting 72 can only reach 65..79 without 72, so at most 14 distinct copies exist
    assert 1 <= len(perturb(original, ["shift_answer"], random.Random(0), 50)) <= 14
    with pytest.raises(UnknownNameError):
        perturb(original, ["no_such_perturbation"], random.Random(0), 1)


# --- real GSM8K solutions ------------------------------------------------------------------------


def gsm8k_targets(path, n):
    out = []
    with open(path) as f:
        for line in f:
            solution = json.loads(line)["answer"]
            reasoning, answer = solution.split("####")
            reasoning = re.sub(r"<<[^>]*>>", "", reasoning)
            out.append(target(reasoning.split("\n"), answer))
            if len(out) == n:
                break
    return out


@pytest.mark.parametrize("name", ALL)
def test_every_perturbation_on_real_gsm8k(shared_data, name):
    fn = PERTURBATIONS.get(name)
    targets = gsm8k_targets(shared_data / "gsm8k" / "train.jsonl", 200)
    produced = 0
    for i, original in enumerate(targets):
        result = fn(original, random.Random(i))
        if result is not None:
            check(original, result)
            produced += 1
    # every GSM8K solution has numbers and a numeric answer; nearly all have an operator
    assert produced >= (190 if name == "flip_operator" else 200)
