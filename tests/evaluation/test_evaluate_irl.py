"""evaluate_irl.py: expert vs perturbed traces on synthetic and GSM8K test traces; samples AUROC; errors."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest
from eval_helpers import compose_eval, eval_artifacts, one_thread  # noqa: F401  (fixtures)

from reasoning_irl.config import ConfigError
from reasoning_irl.evaluation.reward_eval import run_evaluate_irl

TRACE_KEYS = {"id", "kind", "first_step", "tokens", "token_rewards", "steps", "step_rewards", "token_spans", "score"}


def _check_outputs(out, n_problems):
    result = json.loads((out / "irl_diagnostics.json").read_text())
    assert result["n_problems"] == n_problems and result["n_perturbed"] > 0
    assert math.isfinite(result["pairwise_accuracy"]["value"]) and 0 <= result["pairwise_accuracy"]["value"] <= 1
    assert 0 <= result["localization"]["value"] <= 1 and 0 < result["localization"]["chance"] <= 1
    assert 0 <= result["token_auroc"]["value"] <= 1
    base = result["localization"]["baselines"]
    assert (
        set(base) == {"first_step", "last_step", "uniform"}
        and base["uniform"]["value"] == result["localization"]["chance"]
    )
    assert all(b["ci"][0] <= b["value"] <= b["ci"][1] for b in base.values())
    assert set(result["by_kind"]) <= {"flip_operator", "shift_answer", "swap_answer", "corrupt_numbers"}
    traces = [json.loads(line) for line in (out / "irl_traces.jsonl").read_text().splitlines()]
    assert len(traces) == result["n_traces"] == n_problems + result["n_perturbed"]
    for t in traces:
        assert TRACE_KEYS <= set(t)
        assert len(t["tokens"]) == len(t["token_rewards"]) == len(t["token_spans"])
        assert len(t["step_rewards"]) == len(t["steps"])
    table = (out / "irl_diagnostics.md").read_text()
    assert "| kind | n | pairwise acc." in table and "| first step | 95% CI | last step |" in table
    return result, traces


def test_synthetic(eval_artifacts, tmp_path, capfd):
    cfg = compose_eval(
        "evaluate_irl",
        eval_artifacts,
        tmp_path,
        f"reward_model_path={eval_artifacts['rm']}",
        "dataset.num_test=8",
        "num_problems=6",
        "progress=false",
    )
    run_evaluate_irl(cfg)
    assert "reward scoring" not in capfd.readouterr().err
    result, traces = _check_outputs(tmp_path, 6)
    experts = [t for t in traces if t["kind"] == "expert"]
    assert all(t["first_step"] is None for t in experts) and len(experts) == 6
    # seeded: the same perturbations and rewards a second time
    again = tmp_path / "again"
    run_evaluate_irl(
        compose_eval(
            "evaluate_irl",
            eval_artifacts,
            again,
            f"reward_model_path={eval_artifacts['rm']}",
            "dataset.num_test=8",
            "num_problems=6",
            "progress=true",
        )
    )
    bars = capfd.readouterr().err
    assert "reward scoring" in bars and "step rewards" in bars and "diagnostics per kind" in bars
    assert json.loads((again / "irl_diagnostics.json").read_text())["pairwise_accuracy"] == result["pairwise_accuracy"]


def test_gsm8k_test_traces(eval_artifacts, shared_data, tmp_path):
    from reasoning_irl.composition import compose

    cfg = compose(
        "evaluate_irl",
        [
            "dataset=gsm8k",
            f"dataset.path={shared_data / 'gsm8k'}",
            "num_problems=5",
            f"reward_model_path={eval_artifacts['rm']}",
            f"output_dir={tmp_path}",
        ],
    )
    run_evaluate_irl(cfg)
    result, _ = _check_outputs(tmp_path, 5)
    assert result["dataset"] == "gsm8k"


def test_samples_auroc(eval_artifacts, tmp_path):
    from reasoning_irl.data import load_split

    records = load_split({"name": "synthetic", "num_test": 8}, "test")[:2]
    rows = []
    for r in records:  # the expert target is correct; a wrong answer is wrong
        rows.append(
            {"problem_id": r["id"], "sample_index": 0, "greedy": False, "completion": r["target"], "correct": True}
        )
        wrong = r["target"].replace(f"<answer>\n{r['answer']}", "<answer>\n-1")
        rows.append({"problem_id": r["id"], "sample_index": 1, "greedy": False, "completion": wrong, "correct": False})
    samples = tmp_path / "eval_results.jsonl"
    samples.write_text("".join(json.dumps(row) + "\n" for row in rows))
    cfg = compose_eval(
        "evaluate_irl",
        eval_artifacts,
        tmp_path / "out",
        f"reward_model_path={eval_artifacts['rm']}",
        "dataset.num_test=8",
        "num_problems=2",
        f"samples_from={samples}",
    )
    run_evaluate_irl(cfg)
    result = json.loads((tmp_path / "out" / "irl_diagnostics.json").read_text())
    assert result["samples"]["n"] == 4 and result["samples"]["n_correct"] == 2
    assert all(0 <= v <= 1 for v in result["samples"]["auroc"].values())


def test_samples_keep_their_scores_only_from_this_reward_model(eval_artifacts, tmp_path):
    """Scores recorded by another reward model (the file's eval_summary.json names it) are scored again; recorded
    by this one, they are kept. The recorded scores put every wrong sample above every correct one, so kept they
    give an AUROC of exactly 0 for every selector."""
    from reasoning_irl.data import load_split
    from reasoning_irl.evaluation.selectors import SELECTORS

    records = load_split({"name": "synthetic", "num_test": 8}, "test")[:2]
    selectors = SELECTORS.names()  # the default: every registered selector
    rows = []
    for r in records:
        wrong = r["target"].replace(f"<answer>\n{r['answer']}", "<answer>\n-1")
        for i, (text, correct) in enumerate([(r["target"], True), (wrong, False)]):
            scores = {s: (-5.0 if correct else 5.0) for s in selectors}
            rows.append(
                {
                    "problem_id": r["id"],
                    "sample_index": i,
                    "greedy": False,
                    "completion": text,
                    "correct": correct,
                    "scores": scores,
                }
            )

    def samples_auroc_with(recorded_by: str, name: str) -> dict:
        folder = tmp_path / name
        folder.mkdir()
        (folder / "eval_results.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
        (folder / "eval_summary.json").write_text(json.dumps({"reward_model": recorded_by}))
        cfg = compose_eval(
            "evaluate_irl",
            eval_artifacts,
            tmp_path / f"out-{name}",
            f"reward_model_path={eval_artifacts['rm']}",
            "dataset.num_test=8",
            "num_problems=2",
            f"samples_from={folder / 'eval_results.jsonl'}",
        )
        run_evaluate_irl(cfg)
        return json.loads((tmp_path / f"out-{name}" / "irl_diagnostics.json").read_text())["samples"]["auroc"]

    kept = samples_auroc_with(str(eval_artifacts["rm"]), "same")
    assert kept == {s: 0.0 for s in selectors}
    rescored = samples_auroc_with(str(tmp_path / "another_reward_model"), "other")
    assert rescored != kept and set(rescored) == set(selectors)


def test_errors(eval_artifacts, tmp_path, repo_root):
    with pytest.raises(ConfigError, match="reward_model_path is required"):
        run_evaluate_irl(compose_eval("evaluate_irl", eval_artifacts, tmp_path))
    with pytest.raises(ConfigError, match="unknown 'nope'"):
        run_evaluate_irl(
            compose_eval(
                "evaluate_irl",
                eval_artifacts,
                tmp_path,
                f"reward_model_path={eval_artifacts['rm']}",
                "perturbations=[nope]",
            )
        )
    proc = subprocess.run(
        [sys.executable, str(repo_root / "evaluate_irl.py"), "reward_model_path=/no/such/rm", f"output_dir={tmp_path}"],
        cwd=repo_root,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip() == "error: reward_model_path: /no/such/rm does not exist"
