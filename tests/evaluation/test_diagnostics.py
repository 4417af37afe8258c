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


def _trace(pid, kind, first_step, step_scores, score):
    """A scored trace whose steps are 10 characters each, one token per step carrying that step's reward."""
    steps = [[10 * i, 10 * i + 10] for i in range(len(step_scores))]
    return {
        "id": pid,
        "kind": kind,
        "first_step": first_step,
        "steps": steps,
        "token_spans": steps,
        "token_rewards": list(step_scores),
        "step_rewards": list(step_scores),
        "score": score,
        "scores": {},
    }


def test_localization_baselines_by_hand():
    from reasoning_irl.evaluation.diagnostics import localization_baselines
    from reasoning_irl.evaluation.reward_eval import diagnostics

    assert localization_baselines(0, 3) == {"first_step": 1.0, "last_step": 0.0, "uniform": pytest.approx(1 / 3)}
    assert localization_baselines(1, 2) == {"first_step": 0.0, "last_step": 1.0, "uniform": 0.5}
    with pytest.raises(ValueError):
        localization_baselines(3, 3)
    traces = [
        _trace("p0", "expert", None, [0, 0, 0], 1.0),
        _trace("p0", "flip", 0, [-1, 0, 0], 0.0),  # found; first-step guess right
        _trace("p0", "flip", 2, [0, -1, 0], 0.0),  # missed; last-step guess right
        _trace("p1", "expert", None, [0, 0], 1.0),
        _trace("p1", "flip", 1, [0, -1], 2.0),  # found; last-step guess right
    ]
    loc = diagnostics(traces, [], seed=0)["localization"]
    assert loc["value"] == pytest.approx(2 / 3) and loc["n"] == 3 and loc["n_problems"] == 2
    base = loc["baselines"]
    assert base["first_step"]["value"] == pytest.approx(1 / 3)
    assert base["last_step"]["value"] == pytest.approx(2 / 3)
    assert base["uniform"]["value"] == pytest.approx((1 / 3 + 1 / 3 + 1 / 2) / 3) == loc["chance"]
    # Problem-level resamples: {p0,p0} gives localisation 1/2 and first-step 1/2, {p1,p1} gives 1 and 0, a mix
    # 2/3 and 1/3; each pure draw has probability 1/4, so the 95% interval spans the two extremes.
    assert loc["ci"] == pytest.approx([0.5, 1.0])
    assert base["first_step"]["ci"] == pytest.approx([0.0, 0.5])
    assert base["last_step"]["ci"] == pytest.approx([0.5, 1.0])


def test_cluster_bootstrap_resamples_problems():
    from reasoning_irl.evaluation.diagnostics import cluster_bootstrap_ci
    from reasoning_irl.evaluation.metrics import bootstrap_ci

    # 20 problems of 5 identical traces each: the interval is that of the 20 problem means, not of 100 traces.
    per_problem = [float(i % 2) for i in range(20)]
    values = [v for v in per_problem for _ in range(5)]
    groups = [i for i in range(20) for _ in range(5)]
    lo, hi = cluster_bootstrap_ci(values, groups, seed=0)
    naive_lo, naive_hi = bootstrap_ci(values, seed=0)
    assert hi - lo > 1.5 * (naive_hi - naive_lo)
    assert lo < 0.5 < hi
    assert all(math.isnan(x) for x in cluster_bootstrap_ci([math.nan], ["a"], seed=0))
    with pytest.raises(ValueError):
        cluster_bootstrap_ci([1.0], ["a", "b"], seed=0)
