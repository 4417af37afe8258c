"""Our trainers compute their own loss and take their own step: TRL's loss methods and transformers' training step
can be broken (as a library patch might) and runs still work."""

from __future__ import annotations

import pytest
import transformers
import trl
from tiny_runs import LEARNING_REWARDS, step_rows

from reasoning_irl.training import trl_adapter
from reasoning_irl.training.grpo import run_grpo
from reasoning_irl.training.sft import run_sft
from reasoning_irl.training.step_loop import OwnedStepLoop


def _refuse(*args, **kwargs):
    raise AssertionError("a library's own loss or training step was called")


def _spy(monkeypatch, name: str) -> list:
    """Wrap ``trl_adapter.<name>`` so every call's result is recorded."""
    results, real = [], getattr(trl_adapter, name)

    def wrapper(*args, **kwargs):
        results.append(real(*args, **kwargs))
        return results[-1]

    monkeypatch.setattr(trl_adapter, name, wrapper)
    return results


def test_sft_loss_is_ours(compose_run, monkeypatch):
    monkeypatch.setattr(trl.SFTTrainer, "compute_loss", _refuse)
    monkeypatch.setattr(trl.SFTTrainer, "training_step", _refuse)
    calls = _spy(monkeypatch, "completion_cross_entropy")
    run_dir = run_sft(compose_run("sft", "training.max_steps=2"))
    assert len(calls) == 2
    rows = step_rows(run_dir)
    # logging_steps=1, no accumulation: the logged loss is exactly our loss of that step.
    assert [r["loss"] for r in rows] == pytest.approx([c.item() for c in calls], abs=1e-5)


def test_grpo_loss_is_ours(compose_run, monkeypatch):
    monkeypatch.setattr(trl.GRPOTrainer, "compute_loss", _refuse)
    monkeypatch.setattr(trl.GRPOTrainer, "_compute_loss", _refuse)
    monkeypatch.setattr(trl.GRPOTrainer, "training_step", _refuse)
    monkeypatch.setattr(trl.GRPOTrainer, "_prepare_inputs", _refuse)  # the generation buffer is ours too
    calls = _spy(monkeypatch, "clipped_policy_loss")
    run_dir = run_grpo(compose_run("grpo", "training.max_steps=2", LEARNING_REWARDS))
    assert len(calls) == 2
    rows = step_rows(run_dir)
    assert [r["policy_loss"] for r in rows] == pytest.approx([c.loss.item() for c in calls], abs=1e-6)
    assert [r["clip_ratio"] for r in rows] == pytest.approx([c.clip_fraction.item() for c in calls], abs=1e-6)
    assert all("clip_ratio/region_mean" not in r for r in rows)  # a metric only TRL's loss logs


def _count(monkeypatch, cls, name: str) -> list:
    """Record every call of ``cls.<name>`` (the instance's method still runs)."""
    calls, real = [], getattr(cls, name)

    def wrapper(self, *args, **kwargs):
        calls.append(name)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(cls, name, wrapper)
    return calls


def test_the_step_is_ours_with_accumulation(compose_run, monkeypatch):
    """transformers' training_step never runs: each optimizer step is our update, a backward pass per micro-batch
    and one optimizer step; the logged loss is the mean of the step's micro-batch losses (each divided once)."""
    monkeypatch.setattr(transformers.Trainer, "training_step", _refuse)
    backward = _count(monkeypatch, OwnedStepLoop, "backward")
    steps = _count(monkeypatch, OwnedStepLoop, "optimizer_step")
    calls = _spy(monkeypatch, "completion_cross_entropy")
    run_dir = run_sft(compose_run("sft", "training.max_steps=2", "training.gradient_accumulation_steps=2"))
    assert (len(backward), len(steps), len(calls)) == (4, 2, 4)
    losses = [c.item() for c in calls]
    assert [r["loss"] for r in step_rows(run_dir)] == pytest.approx(
        [(losses[0] + losses[1]) / 2, (losses[2] + losses[3]) / 2], abs=1e-5
    )
