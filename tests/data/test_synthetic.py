import random

import pytest

from reasoning_irl.config import ConfigError
from reasoning_irl.data import check_record, load_split
from reasoning_irl.data.synthetic import Problem, SyntheticConfig, draw_problems, generate_split

SMALL = {"name": "synthetic", "num_train": 300, "num_test": 60}


def test_problem_arithmetic_and_equations():
    p = Problem(12, (("+", 5), ("-", 3), ("*", 2)))
    assert p.values() == [12, 17, 14, 28]
    assert p.answer == 28
    assert p.equations() == ["12 + 5 = 17", "17 - 3 = 14", "14 * 2 = 28"]


def test_records_are_exact_and_well_formed():
    for rec in load_split(SMALL, "test"):
        check_record(rec)
        lines = rec["target"].split("\n")
        assert lines[0] == "<think>" and lines[-3:] == ["<answer>", rec["answer"], "</answer>"]
        value = None
        for eq in lines[1:-4]:
            left, result = eq.split(" = ")
            a, op, b = left.split(" ")
            assert op in "+-" and int(b) <= 10
            if value is not None:
                assert int(a) == value  # each step continues from the previous result
            value = {"+": int(a) + int(b), "-": int(a) - int(b)}[op]
            assert int(result) == value and 0 <= value <= 20
        assert str(value) == rec["answer"]
        assert len(rec["steps"]) == 2


def test_deterministic_per_seed_and_seed_changes_it():
    a = load_split(SMALL, "train")
    assert a == load_split(SMALL, "train")
    b = load_split({**SMALL, "seed": 1}, "train")
    assert [r["target"] for r in a] != [r["target"] for r in b]


def test_splits_are_disjoint_problems():
    cfg = SyntheticConfig(**{k: v for k, v in SMALL.items() if k != "name"})
    train = {p for p, _ in generate_split(cfg, "train")}
    test = {p for p, _ in generate_split(cfg, "test")}
    assert len(train) == 300 and len(test) == 60 and train.isdisjoint(test)
    ids = {s: {r["id"] for r in load_split(SMALL, s)} for s in ("train", "validation", "test")}
    assert len(ids["validation"]) == 15 and ids["train"].isdisjoint(ids["validation"])
    questions = {s: {r["prompt"][-1]["content"] for r in load_split(SMALL, s)} for s in ("train", "test")}
    assert questions["train"].isdisjoint(questions["test"])


def test_test_split_does_not_depend_on_train_size():
    assert load_split(SMALL, "test") == load_split({**SMALL, "num_train": 500}, "test")


def test_difficulty_knobs():
    recs = load_split({**SMALL, "min_steps": 4, "max_steps": 4, "operations": ["*", "+"], "max_number": 999}, "test")
    assert all(len(r["steps"]) == 4 for r in recs)
    assert any(" * " in r["target"] for r in recs)


def test_too_small_problem_space_is_a_clear_error():
    cfg = SyntheticConfig(num_train=10, num_test=10, min_steps=1, max_steps=1, max_number=2, max_operand=1)
    with pytest.raises(ConfigError, match="cannot draw"):
        draw_problems(50, random.Random(0), cfg)


@pytest.mark.parametrize(
    "bad", [{"num_trian": 3}, {"max_steps": 5}, {"operations": ["/"]}, {"ratio": 0}, {"validation_size": 2.5}]
)
def test_bad_config_fails(bad):
    with pytest.raises(ConfigError):
        load_split({**SMALL, **bad}, "train")


def test_ratio_and_no_system():
    recs = load_split({**SMALL, "ratio": 0.5, "no_system": True, "system_prompt": "Solve."}, "test")
    assert len(recs) == 30
    assert recs[0]["prompt"][0]["role"] == "user" and recs[0]["prompt"][0]["content"].startswith("Solve.\n\n")
