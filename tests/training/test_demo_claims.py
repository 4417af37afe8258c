"""The demo's claims at test size, on the demo's presets, sharing one reward backbone (tests/training/claim_runs.py
holds the settings; bench/learning_claims.py measures every asserted quantity over seeds and CPU kinds).

The reward backbone is the demo's (configs/experiment/demo_reward_base.yaml: the small tiny preset SFT'd 1500 steps
on the expert traces), trained once here with its step-700 checkpoint kept. It is most of this file's time, so
every claim below starts from it.

Reranking: as in the demo (demo_airl.yaml) the discriminator is `reward_lm_prior` (f = the backbone's
log-density + a scalar head) trained adversarially. To stay test-sized the policy is the backbone's step-700
checkpoint (a weaker model of the same size), AIRL makes 20 updates of 8 rows, and evaluation samples 8
completions for each of 200 held-out problems, which the AIRL reward reranks.

Learning (the miniature's mechanism): a policy that knows the arithmetic but has a habit loses the habit under
GRPO with the verifiable reward, and under AIRL with the learned dense reward (no gold answer). The base is the
backbone taught by 120 SFT steps on targets of which 60% skip the last step (demo_habit.yaml); each method then
makes 10 policy updates, and the held-out learning curve (32 validation problems, 4 samples each at T = 1) is read
from metrics.jsonl.

Separation on the full training set: a plain classifier discriminator (a fresh scalar head on the backbone, no
log-density prior, each update seeing 32 expert traces: method.disc_extra_experts) against the backbone itself as
the policy, 30 AIRL steps; evaluate_irl then ranks 60 held-out experts against their perturbed copies.

Bounds: docs/RESULTS.md, "Learning claims on every machine" (bench/learning_claims.py), where every asserted
quantity is listed over seeds 0-2 on each measured CPU kind, with AVX2 forced, and under settings that must fail.
"""

from __future__ import annotations

import claim_runs
import pytest

pytestmark = pytest.mark.slow


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


@pytest.fixture(scope="module")
def full_set_run(artifacts, reward_base, tmp_path_factory) -> dict:
    return claim_runs.full_set(tmp_path_factory.mktemp("airl_full_set"), artifacts, reward_base)


def test_held_out_experts_rank_above_their_perturbed_copies(full_set_run):
    got = full_set_run
    print("full-set separation:", got)
    assert got["n_perturbed"] == 240
    assert got["pairwise"] > 0.55  # chance is 0.5
    # +0.05: on the Intel Xeon the trained runs gave +0.077 / +0.100 / +0.259, a frozen discriminator +0.015
    assert got["localization"] > got["localization chance"] + 0.05


def test_separation_is_logged_during_the_run(full_set_run):
    got = full_set_run
    assert got["logged steps"] == claim_runs.FULL_SET_AIRL_STEPS
    assert got["gap late"] > got["gap early"] and got["gap late"] > 0.2
