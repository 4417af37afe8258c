"""Every ablation overlay runs 2 AIRL steps on the tiny preset (the overlays that need a folder get one)."""

from __future__ import annotations

import json

import pytest

from reasoning_irl.composition import compose
from reasoning_irl.config import config_dir
from reasoning_irl.training.airl import run as airl_run

ABLATIONS = sorted(p.stem for p in (config_dir() / "ablation").glob("*.yaml"))
SMALL = [
    "training.max_steps=2",
    "training.save_steps=2",
    "training.per_device_batch_size=4",
    "sampling.num_generations=2",
    "sampling.max_completion_length=12",
    "dataset.num_train=8",
    "dataset.num_test=2",
    "dataset.validation_size=0",
    "method.disc_updates_per_step=2",
    "method.perturbations_per_expert=2",
]


@pytest.fixture(scope="module")
def saved_runs(artifacts, tmp_path_factory):
    """One plain 2-step AIRL run: its reward_model/ and final/ serve the frozen-disc and warm-start overlays."""
    out = tmp_path_factory.mktemp("ablation_base")
    run_dir = airl_run.run_airl(
        compose("airl", ["experiment=tiny_airl", f"output_root={out}", f"artifacts_dir={artifacts}", *SMALL])
    )
    return run_dir


@pytest.mark.parametrize("ablation", ABLATIONS)
def test_ablation_runs_two_steps(ablation, saved_runs, artifacts, tmp_path):
    extra = {
        "frozen_disc": [f"method.frozen_reward_model={saved_runs / 'reward_model'}"],
        "warm_start": [f"model.init_adapter={saved_runs / 'final'}"],
        # continued also evaluates every 100 steps, as the seed did; the 2-step run has no validation rows
        "continued": [f"model.init_adapter={saved_runs / 'final'}", "training.eval_steps=0"],
    }.get(ablation, [])
    if ablation == "frozen_disc":
        extra.append("method.disc_updates_per_step=0")
    cfg = compose(
        "airl",
        [
            "experiment=tiny_airl",
            f"+ablation={ablation}",
            f"output_root={tmp_path}",
            f"artifacts_dir={artifacts}",
            *SMALL,
            *extra,
        ],
    )
    run_dir = airl_run.run_airl(cfg)
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    steps = [r for r in rows if "disc/loss" in r]
    assert [r["step"] for r in steps] == [1, 2]
    assert (run_dir / "checkpoint-2" / "reward_model").is_dir() and (run_dir / "final").is_dir()
