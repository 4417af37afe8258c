"""Metrics against brute force over subsets/permutations and hand-computed values."""

from __future__ import annotations

import itertools
import math
import random

import numpy as np
import pytest

from reasoning_irl.evaluation import (
    METRICS,
    ProblemSamples,
    bootstrap_ci,
    maj_at_k,
    pass_at_k,
    random_at_k,
    success_at_k,
    summarize,
    weighted_vote,
)
from reasoning_irl.evaluation.metrics import metric_order


def _labels(n: int, c: int) -> list[bool]:
    return [True] * c + [False] * (n - c)


@pytest.mark.parametrize("n", range(1, 8))
def test_pass_at_k_equals_brute_force_over_subsets(n):
    for c in range(n + 1):
        ok = _labels(n, c)
        for k in range(1, n + 1):
            subsets = list(itertools.combinations(range(n), k))
            brute = sum(any(ok[i] for i in s) for s in subsets) / len(subsets)
            assert pass_at_k(n, c, k) == pytest.approx(brute, abs=1e-12)


@pytest.mark.parametrize("n", range(1, 7))
def test_random_at_k_equals_brute_force_over_orderings(n):
    # A different brute force from pass@k's: the first k of every equally likely ordering.
    for c in range(n + 1):
        ok = _labels(n, c)
        perms = list(itertools.permutations(range(n)))
        for k in range(1, n + 1):
            brute = sum(any(ok[i] for i in p[:k]) for p in perms) / len(perms)
            assert random_at_k(n, c, k) == pytest.approx(brute, abs=1e-12)


def test_pass_at_k_edges():
    assert pass_at_k(5, 0, 3) == 0.0
    assert pass_at_k(5, 5, 1) == 1.0
    assert pass_at_k(5, 2, 2) == pytest.approx(1 - 3 / 10)  # 1 - C(3,2)/C(5,2)
    assert pass_at_k(5, 2, 0) == 0.0
    with pytest.raises(ValueError):
        pass_at_k(3, 1, 4)
    with pytest.raises(ValueError):
        pass_at_k(3, 4, 1)
    # Large n stays finite where the binomials would overflow floats.
    assert 0.0 < pass_at_k(2000, 3, 10) < 1.0


def _brute_success(scores, correct, k):
    """Average over all orderings of tied samples: stable-sort every permutation by score."""
    perms = list(itertools.permutations(range(len(scores))))
    hits = 0
    for p in perms:
        order = sorted(p, key=lambda i: -scores[i])
        hits += any(correct[i] for i in order[:k])
    return hits / len(perms)


def test_success_at_k_with_ties_equals_brute_force():
    rng = random.Random(0)
    for _ in range(150):
        n = rng.randint(1, 6)
        scores = [float(rng.choice([0, 1, 2])) for _ in range(n)]
        correct = [rng.random() < 0.4 for _ in range(n)]
        for k in range(1, n + 1):
            assert success_at_k(scores, correct, k) == pytest.approx(_brute_success(scores, correct, k), abs=1e-12)


def test_success_at_k_hand_cases():
    # Three samples tied at the top, one correct: two of the three are taken -> 1 - C(2,2)/C(3,2) = 2/3.
    assert success_at_k([1, 1, 1, 0], [False, True, False, True], 2) == pytest.approx(2 / 3)
    assert success_at_k([3, 2, 1], [False, False, True], 2) == 0.0
    assert success_at_k([3, 2, 1], [False, True, False], 2) == 1.0
    # A NaN score ranks last.
    assert success_at_k([math.nan, 0.0], [True, False], 1) == 0.0
    with pytest.raises(ValueError):
        success_at_k([1.0], [True], 2)


def test_maj_at_k_hand_cases():
    answers = ["a", "b", "b", "a", "c"]
    correct = [True, False, False, True, False]
    assert maj_at_k(answers, correct, 1) == 1.0  # just "a"
    assert maj_at_k(answers, correct, 2) == 1.0  # a:1 b:1 tie -> earliest "a"
    assert maj_at_k(answers, correct, 3) == 0.0  # b:2
    assert maj_at_k(answers, correct, 4) == 1.0  # a:2 b:2 tie -> "a" occurs first
    # None never votes; all-None scores 0.
    assert maj_at_k([None, None, "x"], [False, False, True], 3) == 1.0
    assert maj_at_k([None, None], [False, False], 2) == 0.0
    # Normalisation: "1,000" and "1000.0" are the same answer and outvote "7".
    assert maj_at_k(["7", "1,000", "1000.0"], [False, True, True], 3) == 1.0
    # The winner's correctness is that of its first occurrence.
    assert maj_at_k(["x", "y", "x "], [False, True, True], 3) == 0.0
    with pytest.raises(ValueError):
        maj_at_k(["a"], [True], 2)


def test_votes_group_answers_as_the_grader_does():
    from reasoning_irl.rewards.correctness import answer_key, is_correct

    # Every spelling below is graded correct against gold 18 (resp. 1/2); the vote must count them as one answer.
    eighteen = ["18 dollars", "18", "$18.00", r"\frac{36}{2}"]
    half = [r"\frac{1}{2}", "0.5", "1/2"]
    assert all(is_correct(a, "18") for a in eighteen) and all(is_correct(a, "0.5") for a in half)
    assert {answer_key(a) for a in eighteen} == {"18"} and {answer_key(a) for a in half} == {"1/2"}
    # Three spellings of the right answer outvote two copies of a wrong one; split by their text they would lose.
    answers = ["7", "18 dollars", "7", "18", "$18"]
    correct = [False, True, False, True, True]
    assert maj_at_k(answers, correct, 5) == 1.0
    assert maj_at_k(["0.3", r"\frac{1}{2}", "0.3", "0.5", "1/2"], [False, True, False, True, True], 5) == 1.0
    assert weighted_vote(["7", "18 dollars", "18"], [1.0, 0.8, 0.8], [False, True, True]) == 1.0
    # Other math by its sympy form, unread text by the grader's string fallback.
    assert answer_key("x^2+1") == answer_key("1+x^2") != answer_key("x^2+2")
    assert answer_key("Blue") == answer_key(" blue ") == "text:blue" and answer_key(None) is None
    # Multiple choice: a letter and the option's text are the same vote.
    options = {"A": "Aspirin", "B": "Heparin"}
    assert answer_key("B", options) == answer_key("(B)", options) == answer_key("heparin", options) == "option:B"
    assert maj_at_k(["A", "B", "Heparin"], [False, True, True], 3, options) == 1.0
    assert maj_at_k(["A", "B", "Heparin"], [False, True, True], 3) == 0.0  # without options, three distinct texts


def test_weighted_vote_hand_cases():
    # max score 2: a has e^0 = 1, b has 2 e^-1 = 0.736 -> a (wrong).
    assert weighted_vote(["a", "b", "b"], [2.0, 1.0, 1.0], [False, True, True]) == 0.0
    # b: 2 e^-0.5 = 1.213 > 1 -> b (right).
    assert weighted_vote(["a", "b", "b"], [2.0, 1.5, 1.5], [False, True, True]) == 1.0
    # Shift invariance and no overflow at large scores.
    assert weighted_vote(["a", "b", "b"], [1002.0, 1001.5, 1001.5], [False, True, True]) == 1.0
    # Exact tie -> earliest answer.
    assert weighted_vote(["a", "b"], [0.0, 0.0], [False, True]) == 0.0
    assert weighted_vote(["b", "a"], [0.0, 0.0], [True, False]) == 1.0
    # None answers carry no vote, even with the top score.
    assert weighted_vote([None, "a"], [9.0, -9.0], [False, True]) == 1.0
    assert weighted_vote([None, None], [1.0, 2.0], [False, False]) == 0.0
    # NaN counts as -inf; all non-finite -> plain majority.
    assert weighted_vote(["a", "b"], [math.nan, 0.0], [True, False]) == 0.0
    assert weighted_vote(["a", "b", "b"], [math.nan] * 3, [True, False, False]) == 0.0


def test_bootstrap_ci_deterministic_and_sane():
    values = np.random.default_rng(1).random(40).tolist()
    ci = bootstrap_ci(values, seed=3)
    assert ci == bootstrap_ci(values, seed=3)
    assert ci != bootstrap_ci(values, seed=4)
    lo, hi = ci
    assert lo <= float(np.mean(values)) <= hi
    assert lo < hi
    assert bootstrap_ci([0.5, 0.5, 0.5], seed=0) == (0.5, 0.5)
    assert all(math.isnan(x) for x in bootstrap_ci([], seed=0))
    # NaN entries are dropped, not propagated.
    assert bootstrap_ci([1.0, math.nan], seed=0) == (1.0, 1.0)
    # Narrower coverage gives a nested interval.
    lo90, hi90 = bootstrap_ci(values, seed=3, alpha=0.1)
    assert lo <= lo90 <= hi90 <= hi


def test_metric_registry():
    assert {"pass@k", "maj@k", "random@k", "greedy"} <= set(METRICS.names())
    p = ProblemSamples("p", ["1", "2", "1"], [True, False, True])
    assert METRICS.get("pass@k")(p, 1) == pytest.approx(2 / 3)
    assert METRICS.get("maj@k")(p, 3) == 1.0
    assert math.isnan(METRICS.get("greedy")(p, 1))
    with pytest.raises(ValueError):
        ProblemSamples("bad", ["1"], [True], scores={"sum": [1.0, 2.0]})


def _tiny_problems():
    p1 = ProblemSamples(
        "p1",
        ["4", "5", "4"],
        [True, False, True],
        greedy_correct=True,
        scores={"sum": [0.0, 1.0, 0.0], "mean": [1.0, 0.0, 1.0]},
    )
    p2 = ProblemSamples(
        "p2", ["7", None, "8"], [False, False, True], greedy_correct=False, scores={"sum": [2.0, 1.0, 2.0]}
    )
    return [p1, p2]


def test_summarize_hand_computed():
    out = summarize(_tiny_problems(), ks=[1, 2, 5], selectors=["sum", "mean", "min"], seed=0)
    expected = {
        "greedy_accuracy": 0.5,
        "pass@1": (2 / 3 + 1 / 3) / 2,
        "pass@2": (1.0 + 2 / 3) / 2,  # p2: 1 - C(2,2)/C(3,2)
        "maj@1": 0.5,  # "4" right, "7" wrong
        "maj@2": 0.5,  # p1 "4"/"5" tie -> "4"; p2 "7" (None ignored)
        "random@1|3": 0.5,
        "random@2|3": 5 / 6,
        "oracle@3": 1.0,
        # p1: top score is the wrong "5"; p2: tie of wrong/right at 2.0 -> 1/2.
        "success@1|3/sum": 0.25,
        # p1: "5" then one of two tied correct ones; p2: both tied top samples taken.
        "success@2|3/sum": 1.0,
        # p1: "4" 2e^-1 < "5" 1 -> wrong; p2: "7" and "8" tie at 1 -> "7" wrong.
        "weighted_vote/sum": 0.0,
        # "mean" only on p1: tied top samples are both correct; "4" weight 2 > e^-1.
        "success@1|3/mean": 1.0,
        "success@2|3/mean": 1.0,
        "weighted_vote/mean": 1.0,
    }
    assert set(out) == set(expected)  # k=5 > N skipped, "min" absent
    for name, value in expected.items():
        assert out[name]["value"] == pytest.approx(value), name
        lo, hi = out[name]["ci"]
        assert lo <= out[name]["value"] + 1e-12 and out[name]["value"] <= hi + 1e-12, name
    assert out["pass@1"]["n"] == 2 and out["success@1|3/mean"]["n"] == 1
    assert summarize(_tiny_problems(), [1, 2], ["sum"], seed=0) == summarize(_tiny_problems(), [1, 2], ["sum"], seed=0)


def test_summarize_cuts_to_smallest_n():
    p1 = ProblemSamples("p1", ["1", "2", "3", "4"], [False, False, False, True])
    p2 = ProblemSamples("p2", ["1", "2"], [True, False])
    out = summarize([p1, p2], ks=[1, 2, 4], selectors=[], seed=0)
    # N = 2: p1's fourth (only correct) sample is dropped.
    assert set(out) == {"pass@1", "pass@2", "maj@1", "maj@2", "random@1|2", "random@2|2", "oracle@2"}
    assert out["oracle@2"]["value"] == pytest.approx(0.5)
    assert "greedy_accuracy" not in out
    assert summarize([], [1], [], seed=0) == {}


def test_summarize_probe_rate_by_hand():
    a = ProblemSamples(
        "a",
        ["1", "2", "3", "4"],
        [True, False, False, False],
        flags={"habit/skip_last_step": [False, True, False, False]},
    )
    b = ProblemSamples(
        "b",
        ["1", "2", "3", "4"],
        [False, False, False, False],
        flags={"habit/skip_last_step": [True, True, False, False]},
    )
    c = ProblemSamples("c", ["1", "2", "3", "4"], [True, True, True, True])  # no flags: not counted
    out = summarize([a, b, c], ks=[1], selectors=[], seed=0)
    assert out["habit/skip_last_step"]["value"] == pytest.approx((0.25 + 0.5) / 2)
    assert out["habit/skip_last_step"]["n"] == 2
    with pytest.raises(ValueError, match="flags"):
        ProblemSamples("d", ["1"], [True], flags={"slip": [True, False]})
    # A probe is reported under its own name, which must not be another metric's key.
    clash = ProblemSamples("e", ["1"], [True], flags={"pass@1": [True]})
    with pytest.raises(ValueError, match="'pass@1' is given by two metrics"):
        summarize([clash], ks=[1], selectors=[], seed=0)


def test_a_probe_key_sorts_where_the_habit_metric_did():
    keys = ["weighted_vote/mean", "habit/slip", "success@4|4/mean", "pass@1", "success@1|4/mean", "oracle@4", "x"]
    assert sorted(keys, key=metric_order) == [
        "pass@1",
        "oracle@4",
        "x",
        "success@1|4/mean",
        "success@4|4/mean",
        "weighted_vote/mean",
        "habit/slip",
    ]
