"""The demo's claims at test size, on the demo's presets, sharing one reward backbone (tests/training/claim_runs.py
holds the settings; bench/learning_claims.py measures every asserted quantity over seeds and CPU kinds).

The reward backbone is the demo's (configs/experiment/demo_reward_base.yaml: the small tiny preset SFT'd 1500 steps
on the expert traces), trained once here with its step-700 checkpoint kept.

Reranking: as in the demo (demo_airl.yaml) the discriminator is `reward_lm_prior` (f = the backbone's
log-density + a scalar head) trained adversarially. To stay test-sized the policy is the backbone's step-700
checkpoint (a weaker model of the same size), AIRL makes 20 updates of 8 rows, and evaluation samples 8
completions for each of 200 held-out problems, which the AIRL reward reranks.

Learning (the miniature's mechanism): a policy that knows the arithmetic but has a habit loses the habit under
GRPO with the verifiable reward, and under AIRL with the learned dense reward (no gold answer). The base is the
backbone taught by 120 SFT steps on targets of which 60% skip the last step (demo_habit.yaml); each method then
makes 10 policy updates, and the held-out learning curve (32 validation problems, 4 samples each at T = 1) is read
from metrics.jsonl.

Bounds (bench/learning_claims.py; docs/RESULTS.md, "Learning claims on every machine"), measured over seeds 0-2 on
an AVX-512 machine and with AVX2 forced, plus seed 0 on an AVX2-only machine:
- reranking: pass@1 0.149-0.242, rerank@1|8 - random@1|8 0.121-0.233, the CI's lower end 0.056-0.163 above random.
  It is the reward model's log-density prior that reranks at this size: with the discriminator's learning rate at
  0 the gain is larger (0.236 / 0.256 on seed 0); with no prior and no learning (the head alone, untrained) it is
  0.021 and the CI's lower end is below random.
- the habit: 0.43-0.60 of the samples before, 0.000-0.063 after 10 updates of either method; pass@1 rises by
  0.07-0.30 (GRPO) and 0.09-0.27 (AIRL), the size varying with seed and CPU kind, so only the direction is
  asserted. With a learning rate of 0 nothing changes (habit as before, gain 0.000).
"""

from __future__ import annotations

import claim_runs
import pytest


@pytest.fixture(scope="module")
def reward_base(artifacts, tmp_path_factory):
    return claim_runs.reward_base(tmp_path_factory.mktemp("reward_base"), artifacts)


@pytest.fixture(scope="module")
def habit_base(artifacts, reward_base, tmp_path_factory):
    return claim_runs.habit_base(tmp_path_factory.mktemp("habit"), artifacts, reward_base)


def test_reranking_by_the_learned_reward_beats_random_selection(artifacts, reward_base, tmp_path_factory):
    got = claim_runs.rerank(tmp_path_factory.mktemp("airl_rerank"), artifacts, reward_base)
    print("rerank:", got)
    assert got["random@1|8"] == pytest.approx(got["pass@1"])
    assert 0.05 < got["pass@1"] < 0.6  # the policy gets some right, not all
    assert got["rerank gain"] > 0.08 and got["rerank@1|8 lower"] > got["random@1|8"]


def assert_habit_removed(got: dict) -> None:
    print("held-out curve:", got)
    assert got["steps"] == [0, claim_runs.HABIT_UPDATES]
    assert got["habit before"] > 0.3  # the base shows the habit
    assert got["habit after"] < 0.15
    assert got["pass@1 gain"] > 0


def test_grpo_with_the_verifiable_reward_removes_the_habit(artifacts, reward_base, habit_base, tmp_path_factory):
    out = tmp_path_factory.mktemp("grpo_habit")
    assert_habit_removed(claim_runs.habit_curve("grpo", out, artifacts, habit_base, reward_base))


def test_airl_with_the_learned_reward_removes_the_habit(artifacts, reward_base, habit_base, tmp_path_factory):
    out = tmp_path_factory.mktemp("airl_habit")
    assert_habit_removed(claim_runs.habit_curve("airl", out, artifacts, habit_base, reward_base))
