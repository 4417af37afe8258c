"""Nothing is lost or silently overwritten: evaluation output folders are named after what is evaluated,
a folder holding results is refused unless overwrite=true, and an output folder never holds an input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from eval_helpers import SMALL, compose_eval, eval_artifacts, one_thread  # noqa: F401  (fixtures)

from reasoning_irl.composition import compose
from reasoning_irl.config import ConfigError
from reasoning_irl.evaluation.output_dir import default_output_dir
from reasoning_irl.evaluation.policy_eval import run_evaluate
from reasoning_irl.evaluation.reward_eval import run_evaluate_irl

RESULTS = {
    "eval_results.jsonl": '{"first": 1}\n',
    "eval_summary.json": '{"metrics": {}}\n',
    "eval_table.md": "# first\n",
}


def _first_results(folder: Path) -> dict[str, bytes]:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in RESULTS.items():
        (folder / name).write_text(text)
    return {name: (folder / name).read_bytes() for name in RESULTS}


def test_default_folder_is_named_after_the_policy_not_the_preset(tmp_path):
    folders = set()
    for policy in ("runs/a-s0/final", "runs/b-s0/final"):
        cfg = compose("evaluate", [f"output_root={tmp_path}", f"policy={tmp_path / policy}"])
        folders.add(default_output_dir(cfg, "evaluate"))
    assert folders == {str(tmp_path / "eval" / "runs-a-s0-final-test"), str(tmp_path / "eval" / "runs-b-s0-final-test")}
    irl = compose("evaluate_irl", [f"output_root={tmp_path}", f"reward_model_path={tmp_path / 'x-s1/reward_model'}"])
    assert default_output_dir(irl, "evaluate_irl") == str(tmp_path / "eval_irl" / "x-s1-reward_model-test")


def test_second_evaluation_into_the_default_folder_is_one_line_and_keeps_the_first(repo_root, tmp_path):
    policy = tmp_path / "myrun" / "final"
    policy.mkdir(parents=True)
    first = _first_results(tmp_path / "eval" / "myrun-final-test")  # where the first evaluation of this policy wrote
    proc = subprocess.run(
        [sys.executable, str(repo_root / "evaluate.py"), f"output_root={tmp_path}", f"policy={policy}"],
        cwd=repo_root,
        capture_output=True,
        text=True,
        timeout=120,
    )
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 2 and len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: output_dir ") and "overwrite=true" in lines[0]
    assert {n: (tmp_path / "eval" / "myrun-final-test" / n).read_bytes() for n in RESULTS} == first


def test_overwrite_true_replaces_results(eval_artifacts, tmp_path):
    out = tmp_path / "out"
    first = _first_results(out)
    cfg = compose_eval("evaluate", eval_artifacts, out, "num_problems=1", "sampling.greedy=false", *SMALL)
    with pytest.raises(ConfigError, match="already holds results"):
        run_evaluate(cfg)
    assert {n: (out / n).read_bytes() for n in RESULTS} == first
    run_evaluate(
        compose_eval(
            "evaluate", eval_artifacts, out, "num_problems=1", "sampling.greedy=false", "overwrite=true", *SMALL
        )
    )
    assert json.loads((out / "eval_summary.json").read_text())["n_problems"] == 1


def test_output_equal_to_input_is_refused_even_with_overwrite(eval_artifacts, tmp_path):
    first = _first_results(tmp_path / "ev")
    results = tmp_path / "ev" / "eval_results.jsonl"
    with pytest.raises(ConfigError, match="holds the input rescore_from"):
        run_evaluate(
            compose_eval(
                "evaluate",
                eval_artifacts,
                tmp_path / "ev",
                f"rescore_from={results}",
                f"reward_model_path={eval_artifacts['rm']}",
                "overwrite=true",
            )
        )
    with pytest.raises(ConfigError, match="holds the input samples_from"):
        run_evaluate_irl(
            compose_eval(
                "evaluate_irl",
                eval_artifacts,
                tmp_path / "ev",
                f"samples_from={results}",
                f"reward_model_path={eval_artifacts['rm']}",
                "overwrite=true",
            )
        )
    assert {n: (tmp_path / "ev" / n).read_bytes() for n in RESULTS} == first
    rescore = compose("evaluate", [f"rescore_from={results}"])
    assert default_output_dir(rescore, "evaluate") == str(tmp_path / "ev-rescored")
