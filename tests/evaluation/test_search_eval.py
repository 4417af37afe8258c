"""evaluate.py search.method=beam|dvts|best_of_n on the tiny policy and tiny reward model: solutions are sequences
of lines, every generated token is counted, and the table compares the search with best-of-N at a matched budget."""

from __future__ import annotations

import json

import pytest
from eval_helpers import compose_eval, eval_artifacts, one_thread  # noqa: F401  (fixtures)

from reasoning_irl.config import ConfigError
from reasoning_irl.evaluation.policy_eval import run_evaluate
from reasoning_irl.evaluation.search_eval import matched_n, split_steps

SEARCH = [
    "dataset.num_test=4",
    "num_problems=3",
    "sampling.max_new_tokens=24",
    "sampling.num_samples=8",
    "ks=[1]",
    "progress=false",
    "search.beam_width=2",
    "search.expansions_per_step=2",
    "search.max_steps=8",
]


def run(art, out, *overrides):
    cfg = compose_eval(
        "evaluate", art, out, f"policy={art['adapter']}", f"reward_model_path={art['rm']}", *SEARCH, *overrides
    )
    run_evaluate(cfg)
    rows = [json.loads(line) for line in (out / "eval_results.jsonl").read_text().splitlines()]
    return rows, json.loads((out / "eval_summary.json").read_text()), (out / "eval_table.md").read_text()


@pytest.fixture(scope="module")
def beam(eval_artifacts, tmp_path_factory):
    return run(eval_artifacts, tmp_path_factory.mktemp("beam"), "search.method=beam")


def test_search_solutions_are_sequences_of_lines(beam):
    rows, summary, _ = beam
    searched = [r for r in rows if r["method"] == "beam"]
    assert len(searched) == 3
    for row in searched:
        assert sum(row["step_lengths"]) == len(row["completion_ids"]) == len(row["token_rewards"]) > 0
        assert "".join(row["steps"]) == row["completion"] and 1 <= len(row["steps"]) <= 8
        pos = 0
        for n, length in enumerate(row["step_lengths"]):
            tokens = row["tokens"][pos : pos + length]
            pos += length
            assert not any("\n" in t for t in tokens[:-1])  # a line stops at its first newline
            if n < len(row["step_lengths"]) - 1:
                assert "\n" in tokens[-1]
        # the first step alone expands 2 x 2 candidates, each at least one token
        assert row["generated_tokens"] >= len(row["completion_ids"]) + 3
        assert row["correct"] in (True, False) and "extracted_answer" in row
    assert any(len(r["steps"]) > 1 for r in searched)  # (seeded) a line break happened, so a step ended early


def test_table_compares_at_matched_budget(beam):
    rows, summary, table = beam
    samples = {}
    for r in rows:
        if r["method"] == "sample":
            samples.setdefault(r["problem_id"], []).append(len(r["completion_ids"]))
    assert all(len(v) == 8 for v in samples.values())
    budget = sum(r["generated_tokens"] for r in rows if r["method"] == "beam") / 3
    n = summary["search"]["matched_n"]
    assert (n, summary["search"]["capped"]) == matched_n(list(samples.values()), budget)
    spent = summary["search"]["generated_tokens"]
    assert spent["beam"] == pytest.approx(budget)
    assert spent[f"best_of_n@{n}"] == pytest.approx(sum(sum(v[:n]) for v in samples.values()) / 3)
    for name in ("beam", f"best_of_n@{n}", f"majority@{n}", "sampling@1"):
        m = summary["metrics"][name]
        assert m["n"] == 3 and m["ci"][0] <= m["value"] <= m["ci"][1]
        assert f"| {name} | {spent[name]:.1f} |" in table
    assert summary["metrics"]["beam"]["value"] == pytest.approx(
        sum(r["correct"] for r in rows if r["method"] == "beam") / 3
    )


def test_dvts_is_deterministic_and_best_of_n_alone(eval_artifacts, tmp_path):
    first = run(eval_artifacts, tmp_path / "a", "search.method=dvts", "num_problems=1")
    again = run(eval_artifacts, tmp_path / "b", "search.method=dvts", "num_problems=1")
    assert first[0] == again[0] and first[1]["metrics"] == again[1]["metrics"]
    dvts = [r for r in first[0] if r["method"] == "dvts"]
    assert len(dvts) == 1 and 1 <= dvts[0]["n_returned"] <= 2
    rows, summary, table = run(eval_artifacts, tmp_path / "c", "search.method=best_of_n", "num_problems=1")
    assert {r["method"] for r in rows} == {"sample"}
    assert set(summary["metrics"]) == {"best_of_n@8", "majority@8", "sampling@1"} and "| best_of_n@8 |" in table


def test_search_needs_a_reward_model(eval_artifacts, tmp_path):
    cfg = compose_eval("evaluate", eval_artifacts, tmp_path, *SEARCH, "search.method=beam")
    with pytest.raises(ConfigError, match="search.method=beam needs reward_model_path"):
        run_evaluate(cfg)


def test_matched_n_and_split_steps():
    lengths = [[10, 10, 10, 10], [20, 20, 20, 20]]  # mean budget of n samples: 15 n
    assert matched_n(lengths, 44) == (3, False) and matched_n(lengths, 38) == (3, False)
    assert matched_n(lengths, 37.5) == (2, False)  # tie between 30 and 45: the smaller n
    assert matched_n(lengths, 100) == (4, True)
    assert split_steps([5, 1, 6, 7, 1, 8], {1}) == [[5, 1], [6, 7, 1], [8]]
    assert split_steps([5, 1], {1}) == [[5, 1]]
