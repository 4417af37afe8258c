"""The demo's reranking claim on a shortened run: the AIRL reward beats random selection at k = 1.

As in the demo (configs/experiment/demo_reward_base.yaml, demo_airl.yaml): the reward backbone is the tiny reward
preset SFT'd for 1500 steps on the expert traces, and the discriminator is `reward_lm_prior` (f = the backbone's
log-density + a scalar head) trained adversarially. To stay test-sized the policy is that same SFT run's
checkpoint at step 700 (a weaker model of the same size; one SFT run serves both), AIRL makes 20 updates of 8
rows, and evaluation samples 8 completions for each of 200 held-out problems, which the AIRL reward reranks.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reasoning_irl.composition import compose
from reasoning_irl.evaluation.policy_eval import run_evaluate
from reasoning_irl.training.airl.run import run_airl


@pytest.fixture(scope="module")
def rerank_summary(artifacts, reward_base, tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("airl_rerank")
    common = [f"output_root={out}", f"artifacts_dir={artifacts}"]
    sft = reward_base  # the session's demo_reward_base run (tests/training/conftest.py)
    policy = sft / "checkpoint-700"
    run_dir = run_airl(
        compose(
            "airl",
            [
                "experiment=demo_airl",
                *common,
                "training.max_steps=20",
                "training.save_steps=20",
                "training.per_device_batch_size=8",
                f"model.name_or_path={policy}",
                f"reward_model.name_or_path={sft}/final",
            ],
        )
    )
    eval_dir = run_evaluate(
        compose(
            "evaluate",
            [
                *common,
                f"policy={policy}",
                f"reward_model_path={run_dir}/reward_model",
                "num_problems=200",
                "sampling.num_samples=8",
                "sampling.max_new_tokens=48",
                "ks=[1,8]",
                "progress=false",
                f"output_dir={out}/eval",
            ],
        )
    )
    return json.loads((Path(eval_dir) / "eval_summary.json").read_text())["metrics"]


def test_reranking_by_the_learned_reward_beats_random_selection(rerank_summary):
    value = {k: (v["value"] if isinstance(v, dict) else v) for k, v in rerank_summary.items()}
    lower = {k: v["ci"][0] for k, v in rerank_summary.items() if isinstance(v, dict) and "ci" in v}
    print("rerank:", {k: value[k] for k in ("pass@1", "random@1|8", "success@1|8/mean", "success@1|8/min")})
    assert value["random@1|8"] == pytest.approx(value["pass@1"])
    # Measured 0.420 [0.355, 0.480] against random 0.208 [0.184, 0.232] (seed 0); the policy gets some right.
    assert 0.05 < value["pass@1"] < 0.6
    assert value["success@1|8/mean"] > value["random@1|8"] + 0.08
    assert lower["success@1|8/mean"] > value["random@1|8"]
