"""Our trainers compute their own loss: TRL's loss methods can be broken (as a library patch might) and runs still work."""

from __future__ import annotations

import pytest
import trl
from tiny_runs import LEARNING_REWARDS, step_rows

from reasoning_irl.training import trl_adapter
from reasoning_irl.training.grpo import run_grpo
from reasoning_irl.training.sft import run_sft


def _refuse(*args, **kwargs):
    raise AssertionError("TRL's own loss was called")


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
    calls = _spy(monkeypatch, "completion_cross_entropy")
    run_dir = run_sft(compose_run("sft", "training.max_steps=2"))
    assert len(calls) == 2
    rows = step_rows(run_dir)
    # logging_steps=1, no accumulation: the logged loss is exactly our loss of that step.
    assert [r["loss"] for r in rows] == pytest.approx([c.item() for c in calls], abs=1e-5)


def test_grpo_loss_is_ours(compose_run, monkeypatch):
    monkeypatch.setattr(trl.GRPOTrainer, "compute_loss", _refuse)
    monkeypatch.setattr(trl.GRPOTrainer, "_compute_loss", _refuse)
    calls = _spy(monkeypatch, "clipped_policy_loss")
    run_dir = run_grpo(compose_run("grpo", "training.max_steps=2", LEARNING_REWARDS))
    assert len(calls) == 2
    rows = step_rows(run_dir)
    assert [r["policy_loss"] for r in rows] == pytest.approx([c.loss.item() for c in calls], abs=1e-6)
    assert [r["clip_ratio"] for r in rows] == pytest.approx([c.clip_fraction.item() for c in calls], abs=1e-6)
    assert all("clip_ratio/region_mean" not in r for r in rows)  # a metric only TRL's loss logs
