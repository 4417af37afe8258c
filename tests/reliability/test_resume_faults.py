"""Resume survives what a killed run leaves: a GRPO run killed mid-run (SIGKILL) resumes to the uninterrupted run's
weights, optimizer state and rows; in metrics.jsonl a torn last line is dropped (said once); other damage is refused."""

from __future__ import annotations

import json
import logging
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from tiny_runs import (
    GRPO_SMALL,
    LEARNING_REWARDS,
    TEST_REWARD,
    assert_grpo_gradients,
    digit_share_reward,
    read_metrics,
    step_rows,
)

from reasoning_irl.cli import CONFIG_ERROR_EXIT, run_entry
from reasoning_irl.composition import compose
from reasoning_irl.rewards import REWARDS
from reasoning_irl.runs import checkpoints
from reasoning_irl.training.grpo import run_grpo
from reasoning_irl.training.sft import run_sft
from reasoning_irl.training.trl_adapter import GENERATION_BUFFER

TORN = '{"step": 3, "loss": 5.91, "grad_no'  # a run killed while appending step 3's row: no closing brace, no newline


def test_a_torn_last_line_is_dropped_and_the_run_resumes(compose_run, caplog):
    run_dir = run_sft(compose_run("sft", "training.max_steps=2", "training.save_steps=1"))
    with open(run_dir / "metrics.jsonl", "a", encoding="utf-8") as handle:
        handle.write(TORN)
    with caplog.at_level(logging.WARNING, logger="reasoning_irl.training.callbacks"):
        run_sft(compose_run("sft", "training.max_steps=3", "training.save_steps=1", "training.resume_from=auto"))
    said = [r.getMessage() for r in caplog.records if "torn" in r.getMessage()]
    assert len(said) == 1 and "metrics.jsonl" in said[0]
    rows = read_metrics(run_dir)  # every line parses again
    assert [r["step"] for r in rows if "train_runtime" not in r] == [1, 2, 3]
    assert sum("train_runtime" in r for r in rows) == 1  # the interrupted call's summary row was dropped too


def test_damage_before_the_last_line_is_refused_in_one_line(compose_run, capsys):
    run_dir = run_sft(compose_run("sft", "training.max_steps=2", "training.save_steps=1"))
    metrics = run_dir / "metrics.jsonl"
    lines = metrics.read_text().splitlines()
    metrics.write_text("\n".join([lines[0], "garbage{", *lines[1:]]) + "\n")
    before = metrics.read_bytes()
    capsys.readouterr()
    with pytest.raises(SystemExit) as stopped:
        run_entry(
            run_sft, compose_run("sft", "training.max_steps=3", "training.save_steps=1", "training.resume_from=auto")
        )
    assert stopped.value.code == CONFIG_ERROR_EXIT
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert errors == [f"error: {metrics}: line 2 is not JSON (damaged); repair or remove it, then resume"], err[-2000:]
    assert metrics.read_bytes() == before  # nothing lost
    assert not (Path(run_dir) / "checkpoint-3").exists()


def test_a_fresh_run_moves_a_dead_runs_rows_aside(compose_run, caplog):
    cfg = compose_run("sft", "training.max_steps=2", "training.save_steps=10")
    first = run_sft(cfg)
    dead = [{"step": 0, "held_out/pass@1": 0.5}, {"step": 1, "loss": 9.0}]  # a run killed before any checkpoint
    (first / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in dead))
    for path in first.iterdir():  # keep only what that run would have left
        if path.name not in ("metrics.jsonl", ".hydra", "config.yaml"):
            shutil.rmtree(path) if path.is_dir() else path.unlink()
    with caplog.at_level(logging.WARNING, logger="reasoning_irl.training.callbacks"):
        run_sft(cfg)
    rows = read_metrics(first)
    assert all(r.get("loss") != 9.0 and "held_out/pass@1" not in r for r in rows)
    assert [r["step"] for r in rows if "train_runtime" not in r] == [1, 2]
    assert (first / "metrics.stale.jsonl").read_text().count("\n") == 2
    assert sum("metrics.stale.jsonl" in r.getMessage() for r in caplog.records) == 1


REPO = Path(__file__).resolve().parents[2]
KILL_AFTER = 4  # past checkpoint-3: the killed run leaves a row the resumed one must drop and redo
TIMING = {"step_time"}  # and every time/*
# GRPO that really trains (the varying test reward), 6 steps, checkpoints at 3 and 6. Two updates per generated batch
# put checkpoint-3 inside a generation cycle and a 4-step warm-up puts it mid-schedule: to end identical, a resume
# must restore the optimizer moments, the scheduler, the sampling RNG and the buffered completions.
GRPO_TRAINING = [
    *GRPO_SMALL,
    LEARNING_REWARDS,
    "method.num_iterations=2",
    "training.max_steps=6",
    "training.save_steps=3",
    "training.warmup_steps=4",
]


def grpo_overrides(out: Path, artifacts: Path, run_name: str) -> list[str]:
    """One list for both the in-process runs and train.py's command line (the resume checks they fingerprint alike)."""
    return [
        "experiment=tiny_grpo",
        f"output_root={out}",
        f"artifacts_dir={artifacts}",
        f"run_name={run_name}",
        *GRPO_TRAINING,
    ]


@pytest.fixture(scope="module")
def straight_grpo(artifacts, tmp_path_factory) -> Path:
    """The uninterrupted 6-step run, shared by the tests below."""
    out, reward = tmp_path_factory.mktemp("grpo"), digit_share_reward()
    with pytest.MonkeyPatch.context() as patch:  # lend_test_reward is per test: lend it for this run
        real_get = REWARDS.get
        patch.setattr(REWARDS, "get", lambda name: reward if name == TEST_REWARD else real_get(name))
        return run_grpo(compose("grpo", grpo_overrides(out, artifacts, "straight")))


def test_the_grpo_resume_setting_really_trains(straight_grpo):
    """Measured (seed 0): grad norm 0.44-0.49 at every step; 0, 0 and 0.5 of the completions of the three generated
    batches in tied groups (reward std 0.019-0.026). The same run on the presets' rewards: grad norm 0 and every
    group tied at every step, so neither the guard nor the resume below would see an update there."""
    assert_grpo_gradients(step_rows(straight_grpo))
    adapter = load_file(straight_grpo / "final" / "adapter_model.safetensors")
    assert all(w.abs().sum() > 0 for k, w in adapter.items() if "lora_B" in k)  # LoRA B starts at 0: it moved


def _optimizer_tensors(checkpoint: Path) -> dict[str, torch.Tensor]:
    saved = torch.load(checkpoint / "optimizer.pt", weights_only=True)
    return {f"{i}.{key}": value for i, state in saved["state"].items() for key, value in state.items()}


def test_a_grpo_run_killed_mid_run_resumes_bit_identical(straight_grpo, artifacts, tmp_path):
    """kill -9 after step 4 (its row written, checkpoint-3 the last saved), then training.resume_from=auto: the final
    adapter and checkpoint-6's optimizer state equal the uninterrupted run's tensor by tensor, and so does every
    row of metrics.jsonl (timings aside). Checked to fail, on the final adapters first, when the resume restores no
    optimizer state, a fresh scheduler, no RNG state or no generation buffer, and on the rows when it keeps the killed
    run's row 4. On the presets' rewards no update is ever made: the final adapters stay equal under every one of
    these, and a lost RNG state passes the whole test."""
    overrides = grpo_overrides(tmp_path, artifacts, "killed")
    killed = subprocess.run(
        [sys.executable, str(Path(__file__).with_name("kill_at_step.py")), str(KILL_AFTER), "train.py", *overrides],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    run_dir = tmp_path / "killed"
    assert [p.name for p in checkpoints(run_dir)] == ["checkpoint-3"] and not (run_dir / "final").exists()
    assert (run_dir / "checkpoint-3" / GENERATION_BUFFER.format(rank=0)).is_file()  # inside a generation cycle
    assert [row["step"] for row in read_metrics(run_dir)] == [1, 2, 3, 4]  # row 4 is past the checkpoint

    resumed = run_grpo(compose("grpo", [*overrides, "training.resume_from=auto"]))
    final, straight_final = (load_file(d / "final" / "adapter_model.safetensors") for d in (resumed, straight_grpo))
    assert final.keys() == straight_final.keys()
    assert all(torch.equal(final[k], straight_final[k]) for k in final), "final adapters differ"
    moments, straight_moments = (_optimizer_tensors(d / "checkpoint-6") for d in (resumed, straight_grpo))
    assert moments.keys() == straight_moments.keys()
    assert all(torch.equal(moments[k], straight_moments[k]) for k in moments), "optimizer states differ"
    rows, straight_rows = step_rows(resumed), step_rows(straight_grpo)
    assert [row["step"] for row in rows] == [row["step"] for row in straight_rows] == list(range(1, 7))
    for row, expected in zip(rows, straight_rows):
        assert {k: v for k, v in row.items() if k not in TIMING and not k.startswith("time/")} == {
            k: v for k, v in expected.items() if k not in TIMING and not k.startswith("time/")
        }, row["step"]
    # One summary row: the killed run left none. (Its train_loss averages the resumed call's steps: not compared.)
    assert sum("train_runtime" in row for row in read_metrics(resumed)) == 1
