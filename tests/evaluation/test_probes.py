"""Probes: a dataset's own diagnostics, graded beside correctness and reported under their names. A probe registered
for a dataset (here, in the test) reaches the evaluation's rows and summary with no other change."""

from __future__ import annotations

import json

import pytest
from eval_helpers import SMALL, compose_eval, eval_artifacts, one_thread  # noqa: F401  (fixtures)

from reasoning_irl.config import ConfigError
from reasoning_irl.data import PROBES, dataset_probes
from reasoning_irl.evaluation.policy_eval import run_evaluate


@pytest.fixture
def answer_found_probe():
    # Whether the grader found a final answer at all: one function and its registration line.
    @PROBES.register("answer_found", dataset="synthetic")
    def answer_found(record, completion, answer):
        return answer is not None

    yield
    PROBES.remove("answer_found")


def test_a_dataset_names_its_probes():
    habits = ["habit/skip_last_step", "habit/slip", "habit/swap_operator"]
    assert list(dataset_probes({"name": "synthetic"})) == habits
    assert dataset_probes({"name": "gsm8k", "path": "unused"}) == {}  # a dataset that declares none


def test_a_registered_probe_joins_its_dataset_only(answer_found_probe):
    assert "answer_found" in dataset_probes({"name": "synthetic"})
    assert "answer_found" not in dataset_probes({"name": "gsm8k", "path": "unused"})


def test_a_probe_for_an_unknown_dataset_or_under_a_taken_name_is_refused():
    PROBES.register("typo", dataset="synthtic")(lambda record, completion, answer: True)
    try:
        with pytest.raises(ConfigError, match=r"unknown dataset: typo \(synthtic\)"):
            dataset_probes({"name": "synthetic"})
    finally:
        PROBES.remove("typo")
    PROBES.register("habit/slip", dataset="synthetic")(lambda record, completion, answer: True)
    try:
        with pytest.raises(ConfigError, match="'habit/slip' of synthetic is both built by the dataset and registered"):
            dataset_probes({"name": "synthetic"})
    finally:
        PROBES.remove("habit/slip")


def test_a_registered_probe_reaches_the_rows_and_the_summary(answer_found_probe, eval_artifacts, tmp_path):
    cfg = compose_eval("evaluate", eval_artifacts, tmp_path, "num_problems=2", "sampling.greedy=false", *SMALL)
    run_evaluate(cfg)
    rows = [json.loads(line) for line in (tmp_path / "eval_results.jsonl").read_text().splitlines()]
    for row in rows:
        assert row["flags"]["answer_found"] == (row["extracted_answer"] is not None)
        assert {"habit/skip_last_step", "habit/slip", "habit/swap_operator"} < set(row["flags"])  # the habits still
    by_problem = {}
    for row in rows:
        by_problem.setdefault(row["problem_id"], []).append(row["flags"]["answer_found"])
    share = sum(sum(f) / len(f) for f in by_problem.values()) / len(by_problem)
    metrics = json.loads((tmp_path / "eval_summary.json").read_text())["metrics"]
    assert metrics["answer_found"]["value"] == pytest.approx(share) and metrics["answer_found"]["n"] == 2
    assert "| answer_found |" in (tmp_path / "eval_table.md").read_text()
