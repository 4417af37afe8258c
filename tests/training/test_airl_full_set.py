"""AIRL on the full synthetic training set: the discriminator separates held-out experts from their perturbed
copies well above chance within a short run.

As in the demo (configs/experiment/demo_airl.yaml): the reward backbone is warm-started by a short SFT on the
expert traces (demo_reward_base) and each discriminator update sees 32 expert traces
(method.disc_extra_experts). To stay test-sized the policy is that same small warm-started model (a weak policy
whose samples look like the experts' and are mostly wrong). Separation is measured after the run by
evaluate_irl on test problems no update has seen.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reasoning_irl.composition import compose
from reasoning_irl.evaluation.reward_eval import run_evaluate_irl
from reasoning_irl.training.airl.run import run_airl
from reasoning_irl.training.sft import run_sft

AIRL_STEPS = 30


@pytest.fixture(scope="module")
def full_set_run(artifacts, tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("airl_full_set")
    common = [f"output_root={out}", f"artifacts_dir={artifacts}"]
    # 400 SFT steps (the demo's reward base trains 1500) and a fresh scalar head at the former disc lr: the
    # setting this test was measured in; the demo's log-density reward needs the longer SFT.
    reward_base = run_sft(compose("sft", ["experiment=demo_reward_base", *common, "training.max_steps=400"]))
    run_dir = run_airl(
        compose(
            "airl",
            [
                "experiment=demo_airl",
                *common,
                f"training.max_steps={AIRL_STEPS}",
                f"training.save_steps={AIRL_STEPS}",
                f"model.name_or_path={reward_base}/final",
                f"reward_model.name_or_path={reward_base}/final",
                "training.per_device_batch_size=8",
                "training.logging_steps=1",
                "method.disc_extra_experts=31",
                # The plain classifier: with the structured one (demo_airl's), log pi already marks the perturbed copies,
                # so f separates them less (measured 0.608 [0.546, 0.667], localisation 0.823; docs/RESULTS.md).
                "method.structured_discriminator=false",
                "method.reward_lm_prior=false",
                "method.disc_learning_rate=2e-3",
            ],
        )
    )
    diag_dir = run_evaluate_irl(
        compose(
            "evaluate_irl",
            [
                *common,
                f"reward_model_path={run_dir}/reward_model",
                "num_problems=60",  # the dataset: the run's config.yaml
                f"output_dir={out}/eval_irl",
            ],
        )
    )
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines() if line]
    return {
        "diag": json.loads((Path(diag_dir) / "irl_diagnostics.json").read_text()),
        "rows": [r for r in rows if "disc/loss" in r],
    }


def test_held_out_experts_rank_above_their_perturbed_copies(full_set_run):
    diag = full_set_run["diag"]
    pair, loc = diag["pairwise_accuracy"], diag["localization"]
    print("full-set separation:", {"pairwise": pair["value"], "ci": pair["ci"], "localization": loc["value"]})
    assert diag["n_perturbed"] == 240
    # Measured 0.646 [0.587, 0.704] with this seed and the demo's one update per step (0.708 with two, before the
    # shared-prompt forward); chance is 0.5.
    assert pair["value"] > 0.62 and pair["ci"][0] > 0.55
    assert loc["value"] > loc["chance"]


def test_separation_is_logged_during_the_run(full_set_run):
    rows = full_set_run["rows"]
    assert len(rows) == AIRL_STEPS
    early = sum(r["disc/score_expert"] - r["disc/score_perturbed"] for r in rows[:3]) / 3
    late = sum(r["disc/score_expert"] - r["disc/score_perturbed"] for r in rows[-10:]) / 10
    assert late > early and late > 0
