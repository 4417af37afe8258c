"""AIRL on the full synthetic training set: the discriminator separates held-out experts from their perturbed
copies above chance within a short run (settings: tests/training/claim_runs.py, ``full_set``).

As in the demo (configs/experiment/demo_airl.yaml): the reward backbone is warm-started by a short SFT on the
expert traces (demo_reward_base) and each discriminator update sees 32 expert traces
(method.disc_extra_experts). To stay test-sized the policy is that same small warm-started model (a weak policy
whose samples look like the experts' and are mostly wrong). Separation is measured after the run by
evaluate_irl on test problems no update has seen.

Bounds (bench/learning_claims.py; docs/RESULTS.md, "Learning claims on every machine"): over seeds 0-2 on an
AVX-512 machine and with AVX2 forced, pairwise accuracy 0.592-0.646 (an AVX2-only machine: 0.588 on seed 0),
first-error localisation 0.725-0.862; with the discriminator's learning rate at 0, 0.458 / 0.475 and 0.477 / 0.500.
"""

from __future__ import annotations

import claim_runs
import pytest


@pytest.fixture(scope="module")
def full_set_run(artifacts, tmp_path_factory) -> dict:
    return claim_runs.full_set(tmp_path_factory.mktemp("airl_full_set"), artifacts)


def test_held_out_experts_rank_above_their_perturbed_copies(full_set_run):
    got = full_set_run
    print("full-set separation:", got)
    assert got["n_perturbed"] == 240
    assert got["pairwise"] > 0.55  # chance is 0.5
    assert got["localization"] > got["localization chance"] + 0.1


def test_separation_is_logged_during_the_run(full_set_run):
    got = full_set_run
    assert got["logged steps"] == claim_runs.FULL_SET_AIRL_STEPS
    assert got["gap late"] > got["gap early"] and got["gap late"] > 0.2
