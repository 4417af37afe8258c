"""End-to-end AIRL runs of the tiny preset: learning, checkpoints, resume, divergence, a frozen reward model, config errors."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import claim_runs
import pytest
import torch
import trl
from accelerate.optimizer import AcceleratedOptimizer
from safetensors.torch import load_file

from reasoning_irl.composition import compose
from reasoning_irl.config import ConfigError
from reasoning_irl.models.reward_model import load_reward_model
from reasoning_irl.runs import check_checkpoint, checkpoints
from reasoning_irl.training.airl import run as airl_run
from reasoning_irl.training.airl.discriminator import Discriminator
from reasoning_irl.training.airl.trainer import AIRL_STATE, REWARD_MODEL_DIR
from reasoning_irl.training.divergence import TrainingDiverged

REPO = Path(__file__).resolve().parents[2]
# Resume runs: as small as a real step gets (the identity does not need learning).
SMALL = ["sampling.max_completion_length=8", "method.disc_updates_per_step=2", "method.perturbations_per_expert=2"]
TIMING_KEYS = ("time", "step_time", "train_runtime", "train_samples_per_second", "train_steps_per_second")


def airl_config(artifacts: Path, out: Path, *overrides: str):
    return compose("airl", ["experiment=tiny_airl", f"output_root={out}", f"artifacts_dir={artifacts}", *overrides])


def step_rows(run_dir: Path) -> list[dict]:
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines() if line]
    return [r for r in rows if "train_runtime" not in r]


def untimed(row: dict) -> dict:
    return {k: v for k, v in row.items() if not k.startswith(TIMING_KEYS)}


def _refuse(*args, **kwargs):
    raise AssertionError("TRL's own loss was called")


@pytest.fixture(scope="module")
def separation(artifacts, tmp_path_factory):
    """The tiny preset for 20 steps (short policy samples), with TRL's loss broken and the discriminator kept."""
    made: list[Discriminator] = []

    class Kept(Discriminator):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            made.append(self)

    out = tmp_path_factory.mktemp("airl_separation")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(trl.GRPOTrainer, "compute_loss", _refuse)
        mp.setattr(trl.GRPOTrainer, "_compute_loss", _refuse)
        mp.setattr(airl_run, "Discriminator", Kept)
        start = time.perf_counter()
        run_dir = airl_run.run_airl(claim_runs.tiny_separation_config(out, artifacts))
        seconds = time.perf_counter() - start
    return {"run_dir": run_dir, "disc": made[0], "seconds": seconds}


def test_discriminator_separates_expert_from_perturbed(separation):
    got = claim_runs.tiny_separation(separation["run_dir"])
    print("separation over the last 10 steps:", got, "seconds:", separation["seconds"])
    # Seeds 0-2, AVX-512 and AVX2 forced (bench/learning_claims.py): gap 3.8-4.6, accuracies 0.71-1.0; with the
    # discriminator's learning rate at 0 the gap stays at -0.01 and no expert is called one.
    assert got["steps"] == claim_runs.TINY_SEPARATION_STEPS
    assert got["gap late"] > 1.0 and got["gap late"] > got["gap early"] + 1.0
    assert got["accuracy perturbed"] > 0.6
    assert got["accuracy expert"] > 0.6


def test_policy_loss_is_ours_even_with_trl_loss_broken(separation):
    rows = step_rows(separation["run_dir"])
    assert all(isinstance(r["policy_loss"], float) for r in rows)  # trained every step without TRL's loss


def test_discriminator_goes_through_accelerate(separation):
    disc = separation["disc"]
    assert isinstance(disc.optimizer, AcceleratedOptimizer)
    assert getattr(disc.model, "_is_accelerate_prepared", False)


def test_checkpoint_holds_the_discriminator_and_its_optimizer(separation):
    run_dir, disc = separation["run_dir"], separation["disc"]
    ckpt = run_dir / f"checkpoint-{claim_runs.TINY_SEPARATION_STEPS}"
    state = torch.load(ckpt / AIRL_STATE, weights_only=False)
    adam = state["optimizer"]["state"]
    trainable = [p for p in disc.module.parameters() if p.requires_grad]
    assert len(adam) == len(trainable) and all(s["exp_avg"].abs().sum() > 0 for s in adam.values())
    assert state["scheduler"]["last_epoch"] == claim_runs.TINY_SEPARATION_STEPS * disc.method.disc_updates_per_step
    saved, _ = load_reward_model(ckpt / REWARD_MODEL_DIR)
    for (name, mine), theirs in zip(disc.module.state_dict().items(), saved.state_dict().values()):
        torch.testing.assert_close(mine, theirs, msg=name)  # the checkpoint is the final discriminator


def test_frozen_reward_model_is_used_and_never_changes(separation, artifacts, tmp_path):
    source = separation["run_dir"] / REWARD_MODEL_DIR
    before = load_file(str(source / "model.safetensors"))
    run_dir = airl_run.run_airl(
        airl_config(
            artifacts,
            tmp_path,
            "training.max_steps=2",
            f"method.frozen_reward_model={source}",
            "method.disc_updates_per_step=0",
            *SMALL[:1],
        )
    )
    rows = step_rows(run_dir)
    assert len(rows) == 2 and all("disc/loss" in r for r in rows)
    after = load_file(str(run_dir / REWARD_MODEL_DIR / "model.safetensors"))
    assert before.keys() == after.keys() and all(torch.equal(before[k], after[k]) for k in before)
    head = [load_file(str(d / "head.safetensors")) for d in (source, run_dir / REWARD_MODEL_DIR)]
    assert all(torch.equal(head[0][k], head[1][k]) for k in head[0])


def test_resume_is_identical_to_an_uninterrupted_run(artifacts, tmp_path):
    """3 steps + resume to 6 == 6 straight. Two policy updates per generated batch put checkpoint-3 inside a
    generation cycle, so step 4 must reuse the saved batch; steps 5-6 then need the restored discriminator
    (weights, Adam state, perturbation RNG) and the restored sampler and RNG states."""
    common = ["training.save_steps=3", "method.num_iterations=2", *SMALL]
    straight = airl_run.run_airl(airl_config(artifacts, tmp_path / "a", "training.max_steps=6", *common))
    airl_run.run_airl(airl_config(artifacts, tmp_path / "b", "training.max_steps=3", *common))
    resumed = airl_run.run_airl(
        airl_config(artifacts, tmp_path / "b", "training.max_steps=6", "training.resume_from=auto", *common)
    )
    a, b = step_rows(straight), step_rows(resumed)
    assert [r["step"] for r in b] == list(range(1, 7))
    for ra, rb in zip(a, b):
        assert untimed(ra) == pytest.approx(untimed(rb), rel=1e-5, abs=1e-6), ra["step"]
    for sub in (
        "final/adapter_model.safetensors",
        f"{REWARD_MODEL_DIR}/model.safetensors",
        f"{REWARD_MODEL_DIR}/head.safetensors",
    ):
        wa, wb = load_file(str(straight / sub)), load_file(str(resumed / sub))
        for k in wa:
            torch.testing.assert_close(wa[k], wb[k], atol=1e-6, rtol=1e-5, msg=f"{sub}:{k}")


def test_nan_discriminator_loss_stops_the_run_and_keeps_the_last_checkpoint(artifacts, tmp_path, monkeypatch):
    calls = {"n": 0}
    real = Discriminator.loss_from_scores

    def poisoned(self, scores, rows):
        calls["n"] += 1  # two updates a step: the third call is step 2's first
        return real(self, scores, rows) * (float("nan") if calls["n"] >= 3 else 1.0)

    monkeypatch.setattr(Discriminator, "loss_from_scores", poisoned)
    config = airl_config(artifacts, tmp_path, "training.max_steps=4", "training.save_steps=1", *SMALL)
    with pytest.raises(
        TrainingDiverged, match="discriminator loss is nan at step 2; .* Last good checkpoint: .*checkpoint-1 "
    ):
        airl_run.run_airl(config)
    run_dir = tmp_path / config.run_name
    assert [p.name for p in checkpoints(run_dir)] == ["checkpoint-1"]
    ckpt = checkpoints(run_dir)[0]
    check_checkpoint(ckpt, json.loads((ckpt / "run_info.json").read_text())["fingerprint"])
    state = torch.load(ckpt / AIRL_STATE, weights_only=False)
    assert all(torch.isfinite(s["exp_avg"]).all() for s in state["optimizer"]["state"].values())
    model, _ = load_reward_model(ckpt / REWARD_MODEL_DIR)
    assert all(torch.isfinite(p).all() for p in model.parameters())
    assert not (run_dir / ".staging").exists()


@pytest.mark.parametrize(
    ("overrides", "says"),
    [
        (["method.reward_mode=sparse"], "advantage must be sparse"),  # with the preset's advantage=grpo
        (["method.disc_updates_per_step=0"], "set frozen_reward_model"),  # frozen, but nothing to load
        (["method.frozen_reward_model={folder}"], "needs disc_updates_per_step=0"),  # frozen, yet updated
        (["method.reward_lm_prior=true", "method.disc_loss=wgan"], "gradient penalty"),  # needs token ids
        (["method.structured_discriminator=false", "method.policy_reward=f_minus_logpi"], "needs structured"),
        (["method.policy_reward=logpi"], "policy_reward must be one of f, f_minus_logpi"),
    ],
)
def test_invalid_combinations_are_one_config_error(artifacts, tmp_path, overrides, says):
    overrides = [o.format(folder=tmp_path) for o in overrides]
    with pytest.raises(ConfigError) as caught:
        airl_run.run_airl(airl_config(artifacts, tmp_path, *overrides))
    assert str(caught.value).startswith("method.") and says in str(caught.value)
    assert "\n" not in str(caught.value)
    assert not (tmp_path / "tiny_airl-s0").exists()  # refused before any run folder is made


def test_cli_reports_an_invalid_combination_in_one_line(artifacts, tmp_path):
    proc = subprocess.run(
        [
            sys.executable,
            "irl_train.py",
            "experiment=tiny_airl",
            "method.reward_mode=sparse",
            f"output_root={tmp_path}",
            f"artifacts_dir={artifacts}",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "error: method.advantage must be sparse when reward_mode is sparse "
        "(a sequence score has no per-token reward-to-go)"
    ]
