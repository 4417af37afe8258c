"""Sweep aggregation: method/setting/seed from the run folders, means and t intervals computed by hand."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import yaml

from reasoning_irl.evaluation.aggregate import main, t_quantile


def run_folder(root: Path, name: str, method: str, seed: int) -> Path:
    """A training run folder as the trainers leave it: config.yaml and final/."""
    run = root / name
    (run / "final").mkdir(parents=True)
    (run / "config.yaml").write_text(yaml.safe_dump({"method": {"name": method}, "seed": seed}))
    return run


def eval_summary(folder: Path, adapter, metrics: dict, reward_model=None, eval_seed: int = 0) -> None:
    folder.mkdir(parents=True)
    config = {
        "dataset": {"name": "gsm8k"},
        "split": "test",
        "seed": eval_seed,
        "model": {"name_or_path": "Qwen/Qwen2.5-3B-Instruct"},
        "method": {"name": "grpo"},
    }
    summary = {
        "config": config,
        "policy": {"base": "Qwen/Qwen2.5-3B-Instruct", "adapter": adapter},
        "reward_model": reward_model,
        "metrics": {k: {"value": v, "ci": [v, v], "n": 50} for k, v in metrics.items()},
    }
    (folder / "eval_summary.json").write_text(json.dumps(summary))


@pytest.fixture
def sweep(tmp_path) -> Path:
    runs, evals = tmp_path / "runs", tmp_path / "eval"
    for seed, value in zip((0, 1, 2), (0.5, 0.6, 0.7)):  # three SFT seeds, run names carry the seed
        run = run_folder(runs, f"sft-s{seed}", "sft", seed)
        eval_summary(evals / f"sft-s{seed}", str(run / "final"), {"pass@1": value, "pass@4": 0.9})
    for seed, value in zip((1, 2), (0.2, 0.4)):  # a multirun: <run_name>/<swept overrides>
        run = run_folder(runs, f"airl/ablation=sparse,seed={seed}", "airl", seed)
        eval_summary(
            evals / f"airl-{seed}",
            str(run / "final"),
            {"pass@1": value, "success@1|8/sum": value + 0.1},
            reward_model=str(run.parent / "reward_model"),
        )
    eval_summary(evals / "base", None, {"pass@1": 0.1}, eval_seed=3)  # the base model: no adapter
    return tmp_path


def read_out(out: Path) -> dict:
    rows = json.loads((out / "sweep_table.json").read_text())
    return {(r["method"], r["setting"], r["metric"]): r for r in rows}


def test_means_and_t_intervals_per_method_and_setting(sweep):
    out = sweep / "table"
    assert main([str(sweep / "eval"), "--out", str(out)]) == 0
    rows = read_out(out)
    plain, sparse = "gsm8k/test Qwen2.5-3B-Instruct", "gsm8k/test Qwen2.5-3B-Instruct ablation=sparse reranked"
    assert set(rows) == {
        ("sft", plain, "pass@1"),
        ("sft", plain, "pass@4"),
        ("base", plain, "pass@1"),
        ("airl", sparse, "pass@1"),
        ("airl", sparse, "success@1|8/sum"),
    }
    sft = rows["sft", plain, "pass@1"]
    # mean 0.6, s = 0.1, t(0.975, 2) = 4.302653: half width 4.302653 * 0.1 / sqrt(3) = 0.2484138
    assert sft["n"] == 3 and sft["seeds"] == [0, 1, 2] and sft["mean"] == pytest.approx(0.6)
    assert sft["ci"] == pytest.approx([0.3515862, 0.8484138], abs=1e-6)
    assert rows["sft", plain, "pass@4"]["ci"] == pytest.approx([0.9, 0.9])  # no spread, no width
    airl = rows["airl", sparse, "pass@1"]
    # mean 0.3, s = sqrt(0.02) = 0.1414214, t(0.975, 1) = 12.706205: half width 12.706205 * 0.1 = 1.2706205
    assert airl["seeds"] == [1, 2] and airl["mean"] == pytest.approx(0.3)
    assert airl["ci"] == pytest.approx([-0.9706205, 1.5706205], abs=1e-6)
    base = rows["base", plain, "pass@1"]
    assert base["n"] == 1 and base["seeds"] == [3] and base["ci"] is None  # one value: no interval

    markdown = (out / "sweep_table.md").read_text()
    assert f"## {plain}\n\n| metric | base | sft |" in markdown
    assert "| pass@1 | 0.100 (n=1) | 0.600 [0.352, 0.848] (n=3) |" in markdown
    assert "| success@1\\|8/sum | 0.400 [-0.871, 1.671] (n=2) |" in markdown  # "|" escaped: still one cell
    with open(out / "sweep_table.csv", newline="") as handle:
        table = list(csv.DictReader(handle))
    assert len(table) == 5 and {"setting", "method", "metric", "n", "mean", "ci_low", "ci_high"} <= set(table[0])


def test_t_quantiles_match_published_values():
    for df, value in ((1, 12.706205), (2, 4.302653), (4, 2.776445), (10, 2.228139), (30, 2.042272)):
        assert t_quantile(0.975, df) == pytest.approx(value, abs=1e-6)


def test_a_glob_selects_part_of_a_sweep(sweep):
    out = sweep / "table"
    assert main([str(sweep / "eval" / "sft-s*"), "--out", str(out)]) == 0
    assert {method for method, _, _ in read_out(out)} == {"sft"}


def test_two_evaluations_of_one_seed_are_an_error(sweep, capsys):
    again = sweep / "eval" / "sft-s0-again"
    eval_summary(again, str(sweep / "runs" / "sft-s0" / "final"), {"pass@1": 0.5})
    assert main([str(sweep / "eval"), "--out", str(sweep / "table")]) == 2
    assert "two evaluations of sft" in capsys.readouterr().err


def test_missing_input_is_one_error_line(tmp_path, capsys):
    assert main([str(tmp_path / "nope"), "--out", str(tmp_path / "table")]) == 2
    assert capsys.readouterr().err.strip() == f"error: {tmp_path / 'nope'}: no such file, folder or match"
