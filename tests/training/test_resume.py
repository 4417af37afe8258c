"""Resume identity (an interrupted + resumed run equals the straight one), refusals, and crash-safe checkpoints.

The interrupted run uses max_steps=3 and the straight one max_steps=6: identity holds because the presets'
constant_with_warmup schedule does not depend on max_steps. A decaying schedule (linear, cosine) is computed
from max_steps, so there a run must be resumed with the max_steps it started with.
"""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file
from tiny_runs import GRPO_SMALL, LEARNING_REWARDS, SFT_SMALL, read_metrics, step_rows

from reasoning_irl.composition import compose
from reasoning_irl.config import ConfigError
from reasoning_irl.runs import resolve_resume
from reasoning_irl.training.grpo import run_grpo
from reasoning_irl.training.sft import run_sft
from reasoning_irl.training.trl_adapter import ReasoningSFTTrainer

RUNNERS = {"sft": run_sft, "grpo": run_grpo}
TIMING = {"step_time", "train_runtime", "train_samples_per_second", "train_steps_per_second"}  # and every time/*
# sft-epochs: 12 problems -> 3 steps per epoch, so the resume point is an epoch boundary.
# grpo-epochs: 6 prompts -> 3 generation batches per epoch (TRL's sampler reseeded per epoch by our trainer).
# grpo-reuse: num_iterations=2 -> step 3's completions are reused at step 4, across the resume.
CASES = {
    "sft-epochs": ("sft", ["dataset.num_train=12"]),
    "grpo-epochs": ("grpo", ["dataset.num_train=6", LEARNING_REWARDS]),
    "grpo-reuse": ("grpo", ["method.num_iterations=2", LEARNING_REWARDS]),
}


@pytest.fixture
def config(artifacts, tmp_path):
    def make(method: str, run_name: str, *overrides: str):
        small = SFT_SMALL if method == "sft" else GRPO_SMALL
        return compose(
            method,
            [
                f"experiment=tiny_{method}",
                f"output_root={tmp_path}",
                f"artifacts_dir={artifacts}",
                f"run_name={run_name}",
                *small,
                "training.save_steps=3",
                *overrides,
            ],
        )

    return make


def _adapter(folder):
    return load_file(folder / "adapter_model.safetensors")


def assert_same_run(a, b) -> None:
    """Equal final adapters (bit for bit) and equal metrics rows (timings aside)."""
    wa, wb = _adapter(a / "final"), _adapter(b / "final")
    assert wa.keys() == wb.keys()
    for key in wa:
        assert torch.equal(wa[key], wb[key]), key
    assert any(w.abs().sum() > 0 for k, w in wa.items() if "lora_B" in k)  # the adapter did train
    # One end-of-training summary row each: the interrupted call's summary is dropped on resume.
    assert [("train_runtime" in r) for r in read_metrics(a)] == [("train_runtime" in r) for r in read_metrics(b)]
    rows_a, rows_b = step_rows(a), step_rows(b)
    assert [r["step"] for r in rows_a] == [r["step"] for r in rows_b] == list(range(1, 7))
    for ra, rb in zip(rows_a, rows_b):
        assert ra.keys() == rb.keys()
        for key in {k for k in ra if k not in TIMING and not k.startswith("time/")}:
            assert ra[key] == pytest.approx(rb[key], abs=1e-6), (ra["step"], key)


@pytest.mark.parametrize("case", sorted(CASES))
def test_resume_is_identical_to_a_straight_run(case, config):
    method, extra = CASES[case]
    run = RUNNERS[method]
    straight = run(config(method, "straight", "training.max_steps=6", *extra))
    run(config(method, "resumed", "training.max_steps=3", *extra))
    assert (straight.parent / "resumed" / "checkpoint-3").is_dir()
    resumed = run(config(method, "resumed", "training.max_steps=6", "training.resume_from=auto", *extra))
    assert_same_run(straight, resumed)
    if case == "grpo-reuse":  # the checkpoint fell inside a generation cycle, so it carries the buffer
        assert (resumed / "checkpoint-3" / "generation_buffer-0.pt").is_file()
        assert not (resumed / "checkpoint-6" / "generation_buffer-0.pt").exists()


@pytest.mark.parametrize("change", ["dataset.num_train=30", "model.lora.r=8", "method.max_length=128"])
def test_resume_with_another_identity_is_refused(change, config):
    run_sft(config("sft", "run", "training.max_steps=3"))
    with pytest.raises(ConfigError, match="different run") as info:
        run_sft(config("sft", "run", "training.max_steps=6", "training.resume_from=auto", change))
    assert "\n" not in str(info.value)


def test_fresh_run_into_a_folder_with_checkpoints_is_refused(config):
    run_dir = run_sft(config("sft", "run", "training.max_steps=3"))
    before = (run_dir / "config.yaml").read_text()
    with pytest.raises(ConfigError, match="already has checkpoints; set training.resume_from=auto"):
        run_sft(config("sft", "run", "training.max_steps=6"))
    assert (run_dir / "config.yaml").read_text() == before


def test_crash_while_saving_keeps_the_previous_checkpoint(config, tmp_path, monkeypatch):
    straight = run_sft(config("sft", "straight", "training.max_steps=6"))
    real = ReasoningSFTTrainer._save_rng_state

    def crash_at_6(self, output_dir):
        if self.state.global_step == 6:
            raise RuntimeError("disk full")
        return real(self, output_dir)

    monkeypatch.setattr(ReasoningSFTTrainer, "_save_rng_state", crash_at_6)
    with pytest.raises(RuntimeError, match="disk full"):
        run_sft(config("sft", "crashed", "training.max_steps=6"))
    monkeypatch.undo()
    run_dir = tmp_path / "crashed"
    assert sorted(p.name for p in run_dir.glob("checkpoint-*")) == ["checkpoint-3"]
    previous = run_dir / "checkpoint-3"
    for name in ("adapter_model.safetensors", "optimizer.pt", "rng_state.pth", "trainer_state.json", "run_info.json"):
        assert (previous / name).is_file()
    for key, value in _adapter(straight / "checkpoint-3").items():
        assert torch.equal(_adapter(previous)[key], value)
    fingerprint = json.loads((previous / "run_info.json").read_text())["fingerprint"]
    assert resolve_resume(run_dir, "auto", fingerprint) == str(previous)

    resumed = run_sft(config("sft", "crashed", "training.max_steps=6", "training.resume_from=auto"))
    assert_same_run(straight, resumed)
    assert not (run_dir / ".staging").exists()  # the half-written checkpoint was cleared by the next save


def test_resume_from_an_explicit_checkpoint(config):
    straight = run_sft(config("sft", "straight", "training.max_steps=6"))
    branch = run_sft(
        config("sft", "branch", "training.max_steps=6", f"training.resume_from={straight / 'checkpoint-3'}")
    )
    for key, value in _adapter(straight / "final").items():
        assert torch.equal(_adapter(branch / "final")[key], value)
    assert [r["step"] for r in step_rows(branch)] == [4, 5, 6]  # the new folder logs only what it trained
    with pytest.raises(ConfigError, match="checkpoint .*checkpoint-9 does not exist"):
        run_sft(config("sft", "other", f"training.resume_from={straight / 'checkpoint-9'}"))


def test_save_total_limit_keeps_the_newest(config):
    run_dir = run_sft(
        config("sft", "run", "training.max_steps=6", "training.save_steps=2", "training.save_total_limit=2")
    )
    assert sorted(p.name for p in run_dir.glob("checkpoint-*")) == ["checkpoint-4", "checkpoint-6"]
