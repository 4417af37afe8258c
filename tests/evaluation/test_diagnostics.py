"""Reward-model diagnostics on known inputs and a constructed reward profile."""

from __future__ import annotations

import itertools
import math
import random

import pytest

from reasoning_irl.evaluation import (
    auroc,
    localization_chance,
    localization_hit,
    pairwise_accuracy,
    step_rewards,
    token_auroc_corrupted,
)


def test_auroc_known_inputs():
    assert auroc([2, 3], [0, 1]) == 1.0
    assert auroc([0, 1], [2, 3]) == 0.0
    assert auroc([1, 1, 1], [1, 1]) == 0.5
    # Pairs (pos, neg): (3,2)=1 (3,0)=1 (1,2)=0 (1,0)=1 (2,2)=1/2 (2,0)=1 -> 4.5 / 6.
    assert auroc([3, 1, 2], [2, 0]) == pytest.approx(0.75)
    assert math.isnan(auroc([], [1.0]))
    assert math.isnan(auroc([1.0], []))
    assert auroc([1.0, math.nan], [0.0]) == 1.0  # NaN dropped


def test_auroc_equals_pairwise_brute_force():
    rng = random.Random(0)
    for _ in range(50):
        pos = [rng.choice([0.0, 0.5, 1.0, 2.0]) for _ in range(rng.randint(1, 8))]
        neg = [rng.choice([0.0, 0.5, 1.0, 2.0]) for _ in range(rng.randint(1, 8))]
        brute = sum((p > q) + 0.5 * (p == q) for p, q in itertools.product(pos, neg)) / (len(pos) * len(neg))
        assert auroc(pos, neg) == pytest.approx(brute)


def test_pairwise_accuracy():
    # Row 0: 1 > 0.5 -> 1; row 1: 1 == 1 -> 1/2; row 2: own expert 0 == 0 -> 1/2.
    assert pairwise_accuracy([1.0, 0.0], [0.5, 1.0, 0.0], [0, 0, 1]) == pytest.approx(2 / 3)
    assert pairwise_accuracy([1.0, 0.0], [2.0], [1]) == 0.0
    assert math.isnan(pairwise_accuracy([1.0], [], []))
    with pytest.raises(ValueError):
        pairwise_accuracy([1.0], [0.0, 0.0], [0])


# Three steps of 10 characters; token 3 straddles the step 1 / step 2 boundary.
STEPS = [[0, 10], [10, 20], [20, 30]]
SPANS = [(0, 5), (5, 10), (10, 15), (15, 22), (22, 30)]
REWARDS = [1.0, 1.0, -1.0, -3.0, 0.5]


def test_step_rewards():
    got = step_rewards(REWARDS, SPANS, STEPS + [[40, 50]])
    # step 0: tokens 0,1; step 1: tokens 2,3; step 2: tokens 3,4; step 3: no token.
    assert got[:3] == pytest.approx([1.0, -2.0, -1.25])
    assert math.isnan(got[3])
    with pytest.raises(ValueError):
        step_rewards(REWARDS[:-1], SPANS, STEPS)


def test_localization_on_constructed_profile():
    scores = step_rewards(REWARDS, SPANS, STEPS)  # [1, -2, -1.25]: the dip is at step 1
    assert localization_hit(scores, 1) == 1.0
    assert localization_hit(scores, 2) == 0.0
    # Tied minima: the expected hit of a uniform pick among them.
    assert localization_hit([0.0, -1.0, -1.0], 1) == 0.5
    assert localization_hit([-1.0, -1.0, -1.0, 2.0], 3) == 0.0
    # NaN steps are ignored.
    assert localization_hit([math.nan, 0.0, 1.0], 1) == 1.0
    assert localization_hit([math.nan, 0.0, 1.0], 0) == 0.0
    assert math.isnan(localization_hit([math.nan, math.nan], 0))
    assert localization_chance(4) == 0.25
    with pytest.raises(ValueError):
        localization_chance(0)


def test_token_auroc_corrupted():
    corrupted, clean = token_auroc_corrupted(REWARDS, SPANS, STEPS, 1)
    assert corrupted == [-1.0, -3.0] and clean == [1.0, 1.0]
    assert auroc(clean, corrupted) == 1.0  # clean tokens are the positives
    # Step 2 corrupted: the straddling token 3 counts as corrupted only.
    corrupted, clean = token_auroc_corrupted(REWARDS, SPANS, STEPS, 2)
    assert corrupted == [-3.0, 0.5] and clean == [1.0, 1.0, -1.0]
    # Nothing precedes step 0.
    corrupted, clean = token_auroc_corrupted(REWARDS, SPANS, STEPS, 0)
    assert corrupted == [1.0, 1.0] and clean == []
    with pytest.raises(ValueError):
        token_auroc_corrupted(REWARDS, SPANS, STEPS, 3)
