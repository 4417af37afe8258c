"""A NaN/inf loss, gradient norm or weight stops every trainer before the update, in one line, publishing nothing non-finite."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from tiny_runs import LEARNING_REWARDS, assert_grpo_gradients, step_rows

from reasoning_irl.cli import DIVERGED_EXIT, run_entry
from reasoning_irl.composition import compose
from reasoning_irl.models.reward_model import load_reward_model
from reasoning_irl.runs import check_checkpoint, checkpoints
from reasoning_irl.training.airl.run import run_airl
from reasoning_irl.training.airl.trainer import AIRL_STATE, REWARD_MODEL_DIR
from reasoning_irl.training.divergence import first_non_finite
from reasoning_irl.training.grpo import run_grpo
from reasoning_irl.training.sft import run_sft
from reasoning_irl.training.trl_adapter import ReasoningGRPOTrainer, ReasoningSFTTrainer

AIRL_SMALL = ["sampling.max_completion_length=8", "method.disc_updates_per_step=2", "method.perturbations_per_expert=2"]


def entry_error(capsys, run, cfg) -> str:
    """Run an entry point as the scripts do; return its one error line (and check that it is one, and no traceback)."""
    with pytest.raises(SystemExit) as stopped:
        run_entry(run, cfg)
    assert stopped.value.code == DIVERGED_EXIT
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in err, err[-2000:]
    return errors[0]


def assert_only_finite_published(run_dir, steps: list[int]) -> None:
    """Exactly the good checkpoints are there, complete and finite; no final/, reward_model/ or staging."""
    assert [p.name for p in checkpoints(run_dir)] == [f"checkpoint-{s}" for s in steps]
    for ckpt in checkpoints(run_dir):
        check_checkpoint(ckpt, json.loads((ckpt / "run_info.json").read_text())["fingerprint"])
    assert first_non_finite(run_dir) is None
    for name in ("final", REWARD_MODEL_DIR, ".staging"):
        assert not (run_dir / name).exists(), name


@pytest.fixture
def optimizer_steps(monkeypatch) -> list[int]:
    """Counts torch AdamW steps (the policy's optimizer; the tiny discriminator's too)."""
    calls: list[int] = []
    real = torch.optim.AdamW.step

    def counted(self, *args, **kwargs):
        calls.append(1)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(torch.optim.AdamW, "step", counted)
    return calls


def test_sft_huge_learning_rate_stops_before_the_step(compose_run, capsys, optimizer_steps):
    cfg = compose_run("sft", "training.learning_rate=1e8", "training.max_steps=6", "training.save_steps=1")
    line = entry_error(capsys, run_sft, cfg)
    run_dir = cfg_run_dir(cfg)
    assert "policy grad norm is nan at step 2; the step was not applied" in line
    assert line.endswith(
        f"Last good checkpoint: {run_dir / 'checkpoint-1'} (resume from it with "
        "training.resume_from=auto and a lower learning rate)"
    )
    assert len(optimizer_steps) == 1  # step 1 only: step 2's NaN gradient never reached the optimizer
    assert_only_finite_published(run_dir, [1])


def test_grpo_nan_loss_stops_before_the_step(compose_run, capsys, monkeypatch, optimizer_steps):
    real = ReasoningGRPOTrainer.compute_loss

    def nan_at_step_3(self, *args, **kwargs):
        loss = real(self, *args, **kwargs)
        return loss * float("nan") if self.state.global_step == 2 else loss

    monkeypatch.setattr(ReasoningGRPOTrainer, "compute_loss", nan_at_step_3)
    cfg = compose_run("grpo", LEARNING_REWARDS, "training.max_steps=4", "training.save_steps=1")
    line = entry_error(capsys, run_grpo, cfg)
    assert "policy loss is nan at step 3" in line and line.endswith("a lower learning rate)")
    assert len(optimizer_steps) == 2
    assert_only_finite_published(cfg_run_dir(cfg), [1, 2])


def test_grpo_huge_learning_rate_stops_before_the_step(compose_run, capsys, optimizer_steps):
    """GRPO that really trains (the varying test reward: step 1's gradient is non-zero, assert_grpo_gradients). Its
    update at 1e8 leaves the loss finite and makes step 2's gradient NaN: only the grad-norm check can stop it (the
    NaN-loss test above never reaches that check). Under the presets' rewards a random tiny policy earns 0 in every
    group, its gradient is 0, and the same run trains to the end: there is no divergence to guard."""
    cfg = compose_run(
        "grpo", LEARNING_REWARDS, "training.learning_rate=1e8", "training.max_steps=4", "training.save_steps=1"
    )
    line = entry_error(capsys, run_grpo, cfg)
    run_dir = cfg_run_dir(cfg)
    assert "policy grad norm is nan at step 2; the step was not applied" in line
    assert line.endswith(
        f"Last good checkpoint: {run_dir / 'checkpoint-1'} (resume from it with "
        "training.resume_from=auto and a lower learning rate)"
    )
    assert len(optimizer_steps) == 1  # step 1 only: step 2's NaN gradient never reached the optimizer
    assert_only_finite_published(run_dir, [1])
    rows = step_rows(run_dir)
    assert [r["step"] for r in rows] == [1]
    assert_grpo_gradients(rows)


def test_airl_huge_policy_learning_rate_is_caught_on_its_gradient(artifacts, tmp_path, capsys):
    """The policy loss stays finite here: only the gradient norm shows the divergence."""
    cfg = airl_cfg(artifacts, tmp_path, "training.learning_rate=1e8")
    line = entry_error(capsys, run_airl, cfg)
    assert "policy grad norm is nan at step 2" in line and "checkpoint-1" in line
    run_dir = cfg_run_dir(cfg)
    assert_only_finite_published(run_dir, [1])
    state = torch.load(run_dir / "checkpoint-1" / AIRL_STATE, weights_only=True)
    assert all(torch.isfinite(s["exp_avg"]).all() for s in state["optimizer"]["state"].values())


def test_airl_huge_discriminator_learning_rate_says_there_is_no_checkpoint(artifacts, tmp_path, capsys):
    cfg = airl_cfg(artifacts, tmp_path, "method.disc_learning_rate=1e8")
    line = entry_error(capsys, run_airl, cfg)
    assert "discriminator grad norm is nan at step 1" in line
    assert line.endswith("No checkpoint was saved before it: lower the learning rate and start again")
    assert_only_finite_published(cfg_run_dir(cfg), [])


def test_airl_discriminator_keeps_its_last_finite_weights(artifacts, tmp_path, capsys, monkeypatch):
    """A NaN gradient in the discriminator's 3rd update (step 2's first) is dropped: checkpoint-1's reward model is
    the one before it, finite."""
    from reasoning_irl.training.airl.discriminator import Discriminator

    calls = {"n": 0}
    real = Discriminator._average_gradients

    def nan_on_third(self, params):
        real(self, params)
        calls["n"] += 1
        if calls["n"] == 3:
            params[0].grad.fill_(float("nan"))

    monkeypatch.setattr(Discriminator, "_average_gradients", nan_on_third)
    cfg = airl_cfg(artifacts, tmp_path)
    line = entry_error(capsys, run_airl, cfg)
    assert "discriminator grad norm is nan at step 2" in line and "checkpoint-1" in line
    run_dir = cfg_run_dir(cfg)
    assert_only_finite_published(run_dir, [1])
    model, _ = load_reward_model(run_dir / "checkpoint-1" / REWARD_MODEL_DIR)
    assert all(torch.isfinite(p).all() for p in model.parameters())


@pytest.mark.parametrize(
    ("checkpointing", "refused", "last_good"),
    [
        (True, "checkpoint-2 was not published", "Last good checkpoint: "),
        (False, "final was not published", "No checkpoint was saved before it"),
    ],
)
def test_a_non_finite_weight_is_never_published(compose_run, capsys, monkeypatch, checkpointing, refused, last_good):
    """Finite loss and gradient, yet an inf weight after step 2 (an overflow in the update): the checkpoint or
    final/ that would hold it is refused. (The Trainer checkpoints the last step too: final/ is checked without.)"""
    real = torch.optim.AdamW.step
    calls = {"n": 0}

    def overflow_at_step_2(self, *args, **kwargs):
        out = real(self, *args, **kwargs)
        calls["n"] += 1
        if calls["n"] == 2:
            with torch.no_grad():
                self.param_groups[0]["params"][0].fill_(float("inf"))
        return out

    monkeypatch.setattr(torch.optim.AdamW, "step", overflow_at_step_2)
    if not checkpointing:
        monkeypatch.setattr(ReasoningSFTTrainer, "_save_checkpoint", lambda self, model, trial: None)
    cfg = compose_run("sft", "training.max_steps=2", "training.save_steps=1")
    line = entry_error(capsys, run_sft, cfg)
    assert "policy weights are not finite at step 2 (adapter_model.safetensors: " in line
    assert refused in line and last_good in line
    assert_only_finite_published(cfg_run_dir(cfg), [1] if checkpointing else [])


def airl_cfg(artifacts, tmp_path, *overrides: str):
    return compose(
        "airl",
        [
            "experiment=tiny_airl",
            f"output_root={tmp_path}",
            f"artifacts_dir={artifacts}",
            "training.max_steps=4",
            "training.save_steps=1",
            *AIRL_SMALL,
            *overrides,
        ],
    )


def cfg_run_dir(cfg) -> Path:
    return Path(cfg.output_root) / cfg.run_name
