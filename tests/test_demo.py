"""`make demo` shortened: every stage of runner_scripts/demo.sh on a few problems and a few steps.

The full demo's learning claims are measured by the demo itself (docs/RESULTS.md); two of them are also asserted
on shortened runs with the demo's presets (the reward model's separation, reranking above random and the habit
removed by GRPO and AIRL, in training/test_demo_claims.py). Here the pipeline is
checked end to end: the stages run in order, each method is trained from the base, evaluated and
reranked by the AIRL reward, the table and the figures are written, and a second call skips every
completed stage.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from reasoning_irl.models import ensure_tiny_model

pytestmark = pytest.mark.slow

SHORT = {
    "BASE_STEPS": "30",
    "HABIT_STEPS": "10",
    "REWARD_STEPS": "30",
    "METHOD_STEPS": "2",
    "EVAL_PROBLEMS": "6",
    "EVAL_SAMPLES": "2",
    "IRL_PROBLEMS": "6",
    "THREADS": "1",
    "HANDOFF": "0",
    "EXTRA": "dataset.num_train=64 dataset.num_test=8 training.per_device_batch_size=8",
}


def run_demo(repo_root: Path, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", str(repo_root / "runner_scripts" / "demo.sh")],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=900,
    )


@pytest.fixture(scope="module")
def demo(repo_root, tmp_path_factory):
    root = tmp_path_factory.mktemp("demo")
    for preset in ("policy", "reward"):
        ensure_tiny_model(root / "artifacts" / f"tiny-qwen2-{preset}", arch="qwen2", preset=preset)
    env = {**SHORT, "OUT": str(root / "out"), "ARTIFACTS": str(root / "artifacts"), "PYTHON": sys.executable}
    first = run_demo(repo_root, env)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    return root / "out", env, first


def test_every_stage_runs_and_the_table_is_printed(demo):
    out, _, proc = demo
    for stage in ("2/6", "3/6 sft", "3/6 grpo", "3/6 airl", "4/6 evaluate base", "4/6 evaluate airl", "5/6", "6/6"):
        assert f"=== {stage}" in proc.stdout
    assert proc.stdout.count("done already") == 2  # nothing but the two prebuilt tiny models was skipped
    for label in ("base", "SFT", "GRPO", "AIRL"):
        assert f"| {label} |" in proc.stdout
    assert (out / "demo_table.md").read_text() in proc.stdout
    # Methods start from the habit base: their adapters name it as their base model.
    for method in ("sft", "grpo", "airl"):
        adapter = json.loads((out / f"demo_{method}-s0" / "final" / "adapter_config.json").read_text())
        assert Path(adapter["base_model_name_or_path"]).resolve() == (out / "demo_habit-s0" / "final").resolve()
    habit = yaml.safe_load((out / "demo_habit-s0" / "config.yaml").read_text())
    assert habit["dataset"]["habit"] == "skip_last_step" and habit["model"]["name_or_path"].endswith(
        "demo_base-s0/final"
    )
    assert "| method | Δ pass@1 | Δ habit: skip_last_step |" in proc.stdout
    for pair in ("SFT vs base", "GRPO vs base", "AIRL vs base", "AIRL vs SFT", "AIRL vs GRPO"):
        assert f"| {pair} | " in proc.stdout


def test_each_lane_keeps_its_thread_count_unless_handoff_is_asked(demo):
    out, _, _ = demo
    # THREADS=1 in two lanes, HANDOFF=0 (the default): no lane is handed the threads of one that ended (with HANDOFF=1 the
    # one still running would read 2), so no run changes its count mid-run (docs/reliability.md, "Determinism").
    for phase in (("base", "reward"), ("sft_grpo", "airl")):
        counts = sorted((out / "logs" / f"{lane}.threads").read_text().strip() for lane in phase)
        assert counts == ["1", "1"], phase


def test_every_method_is_reranked_by_the_airl_reward(demo):
    out, _, _ = demo
    for method in ("base", "sft", "grpo", "airl"):
        summary = json.loads((out / "eval" / method / "eval_summary.json").read_text())
        assert Path(summary["reward_model"]).resolve() == (out / "demo_airl-s0" / "reward_model").resolve()
        assert {"greedy_accuracy", "pass@1", "pass@2", "random@1|2", "success@1|2/mean"} <= set(summary["metrics"])
    diag = json.loads((out / "eval_irl" / "irl_diagnostics.json").read_text())
    assert diag["n_perturbed"] > 0 and 0.0 <= diag["pairwise_accuracy"]["value"] <= 1.0


def test_figures_and_html_view_are_written(demo):
    out, _, _ = demo
    figures = out / "figures"
    for name in ("pass_at_k.png", "pass_at_k.pdf", "pass_at_k.md", "tokens.html", "learning_curve.png"):
        assert (figures / name).stat().st_size > 0, name


def test_a_second_call_skips_completed_stages(demo, repo_root):
    out, env, _ = demo
    again = run_demo(repo_root, env)
    assert again.returncode == 0, again.stderr[-2000:]
    # 2 tiny models, base policy, reward backbone, habit, 3 methods, 4 evaluations, diagnostics
    assert again.stdout.count("done already") == 13
    assert "sft_train.py" not in again.stdout and "evaluate.py" not in again.stdout


def test_a_failing_lane_stops_the_demo_and_names_its_log(demo, repo_root, tmp_path):
    _, env, _ = demo
    bad = {**env, "OUT": str(tmp_path / "out"), "EXTRA": env["EXTRA"] + " no_such_key=1"}
    proc = run_demo(repo_root, bad)
    assert proc.returncode == 1
    assert f"error: base failed (log: {tmp_path / 'out' / 'logs' / 'base.log'})" in proc.stderr
    assert "no_such_key" in proc.stdout  # the lane's own one-line error, printed with its output
    assert "=== 3/6" not in proc.stdout  # nothing after the failed phase ran


def test_failing_background_lanes_stop_the_demo_after_their_phase(demo, repo_root, tmp_path):
    out, env, _ = demo
    mine = tmp_path / "out"
    mine.mkdir()
    for run in ("demo_base-s0", "demo_habit-s0", "demo_reward_base-s0"):  # the bases are done: phase 3 runs in lanes
        (mine / run).symlink_to(out / run)
    proc = run_demo(repo_root, {**env, "OUT": str(mine), "EXTRA": env["EXTRA"] + " method.no_such_key=1"})
    assert proc.returncode == 1
    for lane in ("sft_grpo", "airl"):
        assert f"error: {lane} failed (log: {mine / 'logs' / (lane + '.log')})" in proc.stderr
    assert "=== 3/6 airl" in proc.stdout and "=== 4/6" not in proc.stdout


def test_a_failed_airl_run_stops_the_lane_waiting_for_its_reward_model(demo, repo_root, tmp_path):
    out, env, _ = demo
    mine = tmp_path / "out"
    mine.mkdir()
    for run in ("demo_base-s0", "demo_habit-s0", "demo_reward_base-s0", "demo_sft-s0", "demo_grpo-s0"):
        (mine / run).symlink_to(out / run)  # only AIRL trains, and fails: the other lane has nothing but to wait
    proc = run_demo(repo_root, {**env, "OUT": str(mine), "EXTRA": env["EXTRA"] + " method.no_such_key=1"})
    assert proc.returncode == 1
    for lane in ("sft_grpo", "airl"):
        assert f"error: {lane} failed (log: {mine / 'logs' / (lane + '.log')})" in proc.stderr
    assert "error: the AIRL run failed: no reward model to rerank by" in proc.stdout
    assert "=== 4/6" not in proc.stdout and not (mine / "eval").exists()


def test_missing_python_fails_fast(repo_root, tmp_path):
    proc = run_demo(repo_root, {"PYTHON": str(tmp_path / "no-python"), "OUT": str(tmp_path / "out")})
    assert proc.returncode == 2 and "make install" in proc.stderr
    assert not (tmp_path / "out").exists()


def test_report_cells_hand_computed(repo_root):
    import importlib.util

    spec = importlib.util.spec_from_file_location("demo_report", repo_root / "runner_scripts" / "demo_report.py")
    report = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(report)
    assert report.cell({"value": 0.2, "ci": [0.1, 0.3]}) == "0.200 [0.100, 0.300]"
    # Over seeds: mean 0.3, sample sd sqrt(((0.2-0.3)^2 + (0.4-0.3)^2) / 1) = 0.1414.
    assert report.cell({"value": 0.2}, {"value": 0.4}) == "0.300 ± 0.141"
    assert report.cell(None) == "–" and report.cell({"value": 0.2}, {"value": None}) == "–"


def test_paired_change_hand_computed(repo_root):
    import importlib.util

    spec = importlib.util.spec_from_file_location("demo_report", repo_root / "runner_scripts" / "demo_report.py")
    report = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(report)
    rows = [
        {"problem_id": "a", "greedy": True, "correct": False},  # greedy rows are not samples
        {"problem_id": "a", "greedy": False, "correct": True, "flags": {"habit/slip": False}},
        {"problem_id": "a", "greedy": False, "correct": False, "flags": {"habit/slip": True}},
        {"problem_id": "b", "greedy": False, "correct": False, "flags": {"habit/slip": True}},
    ]
    assert report.per_problem(rows) == {"a": 0.5, "b": 0.0}
    assert report.per_problem(rows, "habit/slip") == {"a": 0.5, "b": 1.0}
    # Every problem gains exactly 0.25: the paired change is 0.25 with a zero-width CI, whatever the draw.
    same = report.paired_change([({"a": 0.75, "b": 0.25}, {"a": 0.5, "b": 0.0})])
    assert same["value"] == 0.25 and same["ci"] == [0.25, 0.25]
    # Two seeds: the mean of the per-seed means (0.5 and -0.5).
    two = report.paired_change([({"a": 1.0}, {"a": 0.5}), ({"a": 0.0}, {"a": 0.5})])
    assert two["value"] == 0.0 and two["ci"] == [0.0, 0.0]


def test_habit_step_line_only_for_a_habit_that_can_be_located(repo_root):
    import importlib.util

    spec = importlib.util.spec_from_file_location("demo_report", repo_root / "runner_scripts" / "demo_report.py")
    report = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(report)

    def sample(lines, rewards, slip):
        tokens = ["<think>\n", lines[0], "\n", lines[1], "\n</think>"]
        return {
            "problem_id": lines[0],
            "greedy": False,
            "completion": "".join(tokens),
            "tokens": tokens,
            "token_rewards": [0.0, rewards[0], 0.0, rewards[1], 0.0],
            "correct": not slip,
            "flags": {"habit/skip_last_step": False, "habit/slip": slip, "habit/swap_operator": False},
        }

    # The reward is lowest on the slipped step in both samples: localisation 1, always-first 1/2.
    rows = [
        sample(["4 + 6 = 11", "11 * 2 = 22"], [-1.0, 0.0], True),
        sample(["3 + 1 = 4", "4 * 2 = 9"], [0.5, -1.0], True),
    ]
    lines = report.habit_step_lines([{"base": rows}], ["habit/slip", "habit/skip_last_step"])
    assert len(lines) == 1 and lines[0].startswith("- the slip step in the base policy's samples")
    assert "the lowest-reward step: 1.000 [1.000, 1.000] (always the first step 0.500" in lines[0]


def test_error_classes_hand_computed(repo_root):
    import importlib.util

    spec = importlib.util.spec_from_file_location("demo_report", repo_root / "runner_scripts" / "demo_report.py")
    report = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(report)

    def out(problem, greedy, correct, completion="<think>\n4 + 6 = 10\n</think>", skip=False):
        flags = {"habit/skip_last_step": skip, "habit/slip": False, "habit/swap_operator": False}
        return {"problem_id": problem, "greedy": greedy, "correct": correct, "completion": completion, "flags": flags}

    wrong_sum = "<think>\n4 + 6 = 11\n</think>"
    base = [
        out("p1", True, True),
        out("p2", True, False, wrong_sum),
        out("p1", False, False, skip=True),
        out("p2", False, False, "no equations"),
    ]
    better = [out("p1", True, True), out("p2", True, True), out("p1", False, True), out("p2", False, False, wrong_sum)]
    assert [report.error_class(r, ["habit/skip_last_step"]) for r in base] == [
        "correct",
        "wrong arithmetic",
        "habit/skip_last_step",
        "other",
    ]
    table = report.error_table(
        [{"base": base, "sft": better, "grpo": better, "airl": better}], ["habit/skip_last_step"]
    )
    assert (
        table[0]
        == "| method | decoding | correct | skip last step | wrong arithmetic | other | Δ wrong arithmetic vs base |"
    )
    assert table[2] == "| base | greedy | 0.500 | 0.000 | 0.500 | 0.000 |  |"
    assert table[3] == "| base | T=1 | 0.000 | 0.500 | 0.000 | 0.500 |  |"
    # SFT greedy: p1 stays right (0 - 0), p2 loses its wrong sum (0 - 1): -0.5; at T=1 p2 gains one (1 - 0): +0.5.
    assert table[4].startswith("| SFT | greedy | 1.000 | 0.000 | 0.000 | 0.000 | -0.500 [")
    assert table[5].startswith("| SFT | T=1 | 0.500 | 0.000 | 0.500 | 0.000 | +0.500 [")


def test_variant_table_by_hand(repo_root, tmp_path):
    import importlib.util

    spec = importlib.util.spec_from_file_location("demo_report", repo_root / "runner_scripts" / "demo_report.py")
    report = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(report)

    def write(key, correct, completions):  # two problems, one sample each; pass@1 = the share correct
        folder = tmp_path / "demo" / "eval" / key
        folder.mkdir(parents=True)
        value = sum(correct) / len(correct)
        metrics = {"pass@1": {"value": value}, "habit/slip": {"value": 0.0}, "success@1|2/mean": {"value": value}}
        (folder / "eval_summary.json").write_text(json.dumps({"n_samples": 2, "metrics": metrics}))
        rows = [
            {"problem_id": f"p{i}", "greedy": False, "correct": c, "flags": {"habit/slip": False}, "completion": t}
            for i, (c, t) in enumerate(zip(correct, completions))
        ]
        (folder / "eval_results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))

    write("airl", [True, False], ["2 + 2 = 4", "2 + 2 = 5"])  # p1 wrong by its arithmetic
    write("grpo", [True, True], ["2 + 2 = 4", "2 + 3 = 5"])
    write("ablation_worse", [False, False], ["2 + 2 = 4", "no equation"])  # wrong, but no wrong equation
    variants = [("(full)", "airl"), ("worse", "ablation_worse"), ("missing", "ablation_missing")]
    table = report.variant_table([tmp_path / "demo"], variants, ["airl"], ["habit/slip"], "mean")
    assert table[0] == (
        "| method | pass@1 | habit: slip | rerank@1\\|2 (mean) | wrong arithmetic (T=1) | Δ pass@1 vs AIRL "
        "| Δ habit: slip vs AIRL |"
    )
    assert table[2] == "| (full) | 0.500 | 0.000 | 0.500 | 0.500 |  |  |"
    # p0 drops from right to wrong (-1), p1 stays wrong (0): the paired change is their mean, -0.5.
    assert table[3].startswith("| worse | 0.000 | 0.000 | 0.000 | 0.000 | -0.500 [")
    assert table[4] == "| missing | not run or failed | – | – | – | – | – |"
    # Against two methods: pass@1 against each, the habit against the first.
    table = report.variant_table([tmp_path / "demo"], [("worse", "ablation_worse")], ["airl", "grpo"], [], "mean")
    assert table[0].endswith("| Δ pass@1 vs AIRL | Δ pass@1 vs GRPO |")
    assert "| -0.500 [" in table[2] and "| -1.000 [-1.000, -1.000] |" in table[2]
