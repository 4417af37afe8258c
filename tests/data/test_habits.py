import random

import pytest

from reasoning_irl.config import ConfigError
from reasoning_irl.data import check_record, load_split
from reasoning_irl.data.arithmetic import Problem
from reasoning_irl.data.habits import (
    HABITS,
    Equation,
    habit_step,
    habits_shown,
    parse_equations,
    problem_from_equations,
)

SMALL = {"name": "synthetic", "num_train": 300, "num_test": 40, "validation_size": 0}
P = Problem(12, (("+", 5), ("-", 3)))  # 12 + 5 = 17, 17 - 3 = 14


def target(lines, answer):
    return "<think>\n" + "".join(line + "\n" for line in lines) + f"</think>\n<answer>\n{answer}\n</answer>"


def test_parse_equations_reads_only_equation_lines():
    text = "<think>\n12 + 5 = 17\nso then\n 17 -3=14 \n2 * x = 4\n</think>\n<answer>\n14\n</answer>"
    assert parse_equations(text) == [Equation(12, "+", 5, 17), Equation(17, "-", 3, 14)]
    assert parse_equations("9" * 500 + " + 1 = 2") == []  # overlong lines are never equations


def test_problem_from_expert_equations_and_refusals():
    assert problem_from_equations(parse_equations(target(P.equations(), 14))) == P
    assert problem_from_equations(parse_equations("12 + 5 = 18")) is None  # wrong arithmetic
    assert problem_from_equations(parse_equations("12 + 5 = 17\n16 - 3 = 13")) is None  # not a chain
    assert problem_from_equations([]) is None


def test_skip_last_step_by_hand():
    lines, answer = HABITS.get("skip_last_step").write(P, random.Random(0))
    assert (lines, answer) == (["12 + 5 = 17"], "17")
    assert HABITS.get("skip_last_step").write(Problem(3, (("+", 1),)), random.Random(0)) is None
    shows = HABITS.get("skip_last_step").shows
    assert shows(P, [], 17) and not shows(P, [], 14) and not shows(P, [], None) and not shows(P, [], 16)


def test_slip_is_off_by_one_or_two_and_carried():
    slip = HABITS.get("slip")
    for seed in range(20):
        lines, answer = slip.write(P, random.Random(seed))
        first, second = parse_equations("\n".join(lines))
        off = first.result - 17
        assert first.left == 12 and first.op == "+" and first.operand == 5 and off in (-2, -1, 1, 2)
        assert second == Equation(first.result, "-", 3, first.result - 3)  # carried, computed right
        assert answer == str(14 + off)
    shows = slip.shows
    assert shows(P, [Equation(12, "+", 5, 18), Equation(18, "-", 3, 15)], 15)
    assert not shows(P, [Equation(12, "+", 5, 18), Equation(18, "-", 3, 15)], 14)  # right answer: no habit
    assert not shows(P, [Equation(12, "+", 5, 25), Equation(25, "-", 3, 22)], 22)  # off by 8: not a slip


def test_swap_operator_applies_the_other_operator():
    swap = HABITS.get("swap_operator")
    seen = set()
    for seed in range(20):
        lines, answer = swap.write(P, random.Random(seed))
        eqs = parse_equations("\n".join(lines))
        assert all(eq.is_right for eq in eqs) and eqs[0].left == 12 and answer != "14"
        assert [eq.operand for eq in eqs] == [5, 3]
        seen.add(tuple(eq.op for eq in eqs))
    assert seen == {("-", "-"), ("+", "+")}  # 12 - 5 = 7, 7 - 3 = 4 and 12 + 5 = 17, 17 + 3 = 20
    assert swap.shows(P, [Equation(12, "+", 5, 17), Equation(17, "+", 3, 20)], 20)
    assert not swap.shows(P, [Equation(12, "+", 5, 17), Equation(17, "-", 3, 14)], 13)


@pytest.mark.parametrize("habit", HABITS.names())
def test_habit_targets_are_well_formed_wrong_seeded_and_detected(habit):
    clean = load_split(SMALL, "train")
    cfg = {**SMALL, "habit": habit, "habit_rate": 0.4}
    rows = load_split(cfg, "train")
    assert rows == load_split(cfg, "train")  # seeded
    assert rows != load_split({**cfg, "seed": 1}, "train")
    flawed = 0
    for row, expert in zip(rows, clean):
        check_record(row)
        assert row["id"] == expert["id"] and row["prompt"] == expert["prompt"] and row["answer"] == expert["answer"]
        if row["target"] == expert["target"]:
            continue
        flawed += 1
        stated = row["target"].split("<answer>\n")[1].split("\n")[0]
        assert stated != row["answer"]  # wrong in the final answer
        shown = habits_shown(expert["target"], row["target"], stated)
        assert shown[habit]  # wrong in the stated way
        assert habits_shown(expert["target"], expert["target"], expert["answer"]) == dict.fromkeys(
            HABITS.names(), False
        )
    assert 0.3 < flawed / len(rows) < 0.5
    assert load_split(cfg, "test") == load_split(SMALL, "test")  # the test split stays clean


def test_habit_config_errors():
    with pytest.raises(ConfigError, match="unknown habit 'nope'; choose one of: skip_last_step, slip, swap_operator"):
        load_split({**SMALL, "habit": "nope", "habit_rate": 0.5}, "train")
    with pytest.raises(ConfigError, match="habit_rate > 0 needs dataset.habit"):
        load_split({**SMALL, "habit_rate": 0.5}, "train")
    with pytest.raises(ConfigError, match=r"habit_rate must be in \[0, 1\]"):
        load_split({**SMALL, "habit": "slip", "habit_rate": 1.5}, "train")


def test_habits_shown_is_none_off_the_synthetic_task():
    assert habits_shown("<think>\nShe buys 3 apples.\n</think>\n<answer>\n3\n</answer>", "3", "3") is None


def test_habit_step_points_at_the_slipped_line():
    slipped = "<think>\nStart with 4.\n4 + 6 = 11\n11 * 2 = 22\n</think>\n<answer>\n22\n</answer>"
    assert habit_step("slip", slipped) == 1  # step 0 is the line without an equation
    assert habit_step("slip", "<think>\n4 + 6 = 10\n10 * 2 = 18\n</think>") == 1
    assert habit_step("slip", "<think>\n4 + 6 = 10\n10 * 2 = 25\n</think>") is None  # off by 5: no slip
    assert habit_step("slip", "4 + 6 = 11") is None  # no think block, no steps
    # A skipped step has no line and a swapped operator is right arithmetic: neither can be located.
    assert habit_step("skip_last_step", "<think>\n4 + 6 = 10\n</think>") is None
    assert habit_step("swap_operator", "<think>\n4 - 6 = -2\n</think>") is None
