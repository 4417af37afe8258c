"""Exact, deterministic evaluation metrics over N sampled solutions per problem.

Every metric is an expectation computed in closed form (no Monte Carlo), so two runs on the
same samples give bit-identical numbers. Sample order is index order: "the first k samples"
means ``answers[:k]``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Optional

import numpy as np

from reasoning_irl.registry import Registry, wrapped_in

__all__ = [
    "METRICS",
    "Metric",
    "ProblemSamples",
    "bootstrap_ci",
    "maj_at_k",
    "metric_order",
    "pass_at_k",
    "random_at_k",
    "success_at_k",
    "summarize",
    "weighted_vote",
]


def _check_k(n: int, k: int) -> None:
    if k < 0 or k > n:
        raise ValueError(f"need 0 <= k <= n, got k={k}, n={n}")


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k = 1 - C(n-c, k) / C(n, k) for n samples of which c are correct.

    Uses the product form 1 - prod_{i=n-c+1}^{n} (1 - k/i) (Chen et al. 2021), which never forms
    the huge binomials. Raises ValueError when k > n or c is outside [0, n].
    """
    _check_k(n, k)
    if not 0 <= c <= n:
        raise ValueError(f"need 0 <= c <= n, got c={c}, n={n}")
    if n - c < k:  # every k-subset must contain a correct sample
        return 1.0
    return float(1.0 - np.prod(1.0 - k / np.arange(n - c + 1, n + 1, dtype=np.float64)))


def random_at_k(n: int, c: int, k: int) -> float:
    """Success of choosing k of the n samples uniformly at random (the no-reward baseline).

    The chance that a uniform k-subset holds a correct sample is exactly 1 - C(n-c,k)/C(n,k),
    i.e. the random-selection baseline *is* unbiased pass@k; kept as its own name so reports
    pair it with the reward-based success@k on the same N.
    """
    return pass_at_k(n, c, k)


def _vote(
    answers: Sequence[str | None], correct: Sequence[bool], weights: Sequence[float], options: Any = None
) -> float:
    """Correctness of the answer with the largest total weight; ties go to the answer that occurs first.

    Answers are grouped by the grader's canonical form (:func:`reasoning_irl.rewards.correctness.answer_key`),
    so "18 dollars" and "18", or "\\frac{1}{2}" and "0.5", vote together as the grader counts them alike.
    Equal answers share correctness, so the first occurrence's label is used.
    """
    from reasoning_irl.rewards.correctness import answer_key

    totals: dict[str, float] = {}
    first: dict[str, int] = {}
    for i, (a, w) in enumerate(zip(answers, weights)):
        key = answer_key(a, options)
        if key is None:
            continue
        if key not in totals:
            totals[key], first[key] = 0.0, i
        totals[key] += w
    if not totals:
        return 0.0
    # dicts keep insertion (= first occurrence) order and max() keeps the first maximum.
    winner = max(totals, key=lambda key: totals[key])
    return 1.0 if correct[first[winner]] else 0.0


def maj_at_k(answers: list[str | None], correct: list[bool], k: int, options: Any = None) -> float:
    """Majority vote over the first k samples: the most frequent non-None answer by the grader's canonical
    form (``options``: the problem's multiple-choice options, if any; ties -> earliest first occurrence) is
    correct or not; all-None -> 0.0."""
    _check_k(len(answers), k)
    return _vote(answers[:k], correct[:k], [1.0] * k, options)


def weighted_vote(answers: list[str | None], scores: list[float], correct: list[bool], options: Any = None) -> float:
    """Reward-weighted majority vote over all samples.

    An answer's weight is sum over its samples of exp(score - max score), i.e. unnormalised
    softmax mass, so weights are positive whatever the reward's scale or sign and the max-shift
    keeps exp() from overflowing. NaN scores count as -inf (weight 0); if no sample with an
    answer has a finite score this falls back to a plain majority vote. Ties -> earliest answer.
    Answers are grouped as in :func:`maj_at_k`.
    """
    s = np.array(scores, dtype=np.float64).reshape(-1)
    s[np.isnan(s)] = -np.inf
    voting = np.array([a is not None for a in answers], dtype=bool)
    if not voting.any():
        return 0.0
    top = s[voting].max()
    if not np.isfinite(top):
        weights = np.where(voting, 1.0, 0.0) if top == -np.inf else np.where(s == np.inf, 1.0, 0.0)
    else:
        weights = np.exp(s - top)
    return _vote(answers, correct, weights.tolist(), options)


def success_at_k(scores: list[float], correct: list[bool], k: int) -> float:
    """Whether a correct sample is among the k best by score, with exact tie handling.

    Samples tied at the k-th best score are ordered uniformly at random *in expectation*: if g
    samples score strictly above the cut-off, m = k - g of the t tied ones are taken, and the
    result is the hypergeometric chance 1 - C(t-ct, m)/C(t, m) that those m include one of the
    ct correct tied samples. NaN scores rank below everything.
    """
    n = len(scores)
    _check_k(n, k)
    if k == 0:
        return 0.0
    s = np.array(scores, dtype=np.float64)
    s[np.isnan(s)] = -np.inf
    ok = np.asarray(correct, dtype=bool)
    cut = np.sort(s)[::-1][k - 1]
    above, tied = s > cut, s == cut
    if ok[above].any():
        return 1.0
    return pass_at_k(int(tied.sum()), int(ok[tied].sum()), k - int(above.sum()))


def bootstrap_ci(
    values_per_problem: list[float], seed: int, n_resamples: int = 1000, alpha: float = 0.05
) -> tuple[float, float]:
    """Percentile bootstrap CI of the mean, resampling problems with replacement.

    Deterministic for a seed (numpy Generator). NaN entries (metric undefined on that problem)
    are dropped first; nothing left -> (nan, nan).
    """
    v = np.asarray(values_per_problem, dtype=np.float64).reshape(-1)
    v = v[~np.isnan(v)]
    if v.size == 0:
        return (math.nan, math.nan)
    rng = np.random.default_rng(seed)
    means = v[rng.integers(0, v.size, size=(n_resamples, v.size))].mean(axis=1)
    lo, hi = np.quantile(means, [alpha / 2, 1 - alpha / 2])
    return (float(lo), float(hi))


@dataclass
class ProblemSamples:
    """N sampled solutions of one problem: extracted answers, their correctness, optional
    greedy-decode correctness, per-sample sequence scores keyed by selector name, and per-sample flags keyed by
    probe name (the dataset's probes, :mod:`reasoning_irl.data.probes`). ``options``: the multiple-choice options, which the votes
    need to tell which option an answer names."""

    problem_id: str
    answers: list[str | None]
    correct: list[bool]
    greedy_correct: bool | None = None
    scores: dict[str, list[float]] = field(default_factory=dict)
    flags: dict[str, list[bool]] = field(default_factory=dict)
    options: Any = None

    def __post_init__(self) -> None:
        if len(self.answers) != len(self.correct):
            raise ValueError(f"{self.problem_id}: {len(self.answers)} answers but {len(self.correct)} labels")
        for name, s in self.scores.items():
            if len(s) != len(self.answers):
                raise ValueError(f"{self.problem_id}: scores[{name!r}] has {len(s)} entries, want {len(self.answers)}")
        for name, flags in self.flags.items():
            if len(flags) != len(self.answers):
                raise ValueError(
                    f"{self.problem_id}: flags[{name!r}] has {len(flags)} entries, want {len(self.answers)}"
                )

    @property
    def n(self) -> int:
        return len(self.answers)

    def head(self, n: int) -> ProblemSamples:
        """The first n samples (samples are i.i.d., so a prefix is an unbiased subsample)."""
        return ProblemSamples(
            self.problem_id,
            self.answers[:n],
            self.correct[:n],
            self.greedy_correct,
            {name: list(s[:n]) for name, s in self.scores.items()},
            {name: list(f[:n]) for name, f in self.flags.items()},
            self.options,
        )


@dataclass(frozen=True)
class Metric:
    """One family of summary entries: ``value(problem, k, item)`` on one problem, named by ``key``.

    ``key`` is a format string over ``k``, ``n`` (the samples per problem) and ``item``; the fields it names decide
    what :func:`summarize` runs the metric over: every valid k with ``{k}``, every selector (``over="selectors"``)
    or probe (``over="flags"``) with ``{item}``, and only the problems that carry that selector's scores or that
    probe's flags. ``needs_samples=False`` keeps a metric when problems have no samples (greedy decoding).
    """

    value: Callable[..., float]
    key: str
    over: Optional[str] = None
    needs_samples: bool = True
    covers: Optional[Callable[[ProblemSamples], bool]] = None
    """Which problems the metric is defined on (all when None)."""

    def __call__(self, problem: ProblemSamples, k: int, item: Optional[str] = None) -> float:
        return self.value(problem, k, item)

    def pattern(self) -> re.Pattern:
        """A regex matching this metric's summary keys."""
        fields = {"k": r"(?P<k>\d+)", "n": r"(?P<n>\d+)", "item": r"(?P<item>.+)"}
        parts = re.split(r"\{(k|n|item)\}", self.key)
        return re.compile("".join(fields[x] if i % 2 else re.escape(x) for i, x in enumerate(parts)) + "$")


METRICS: Registry[Metric] = Registry("metric", entry=wrapped_in(Metric))
"""Every metric of an evaluation summary, in the order the tables list them (registration order)."""


@METRICS.register("greedy", key="greedy_accuracy", needs_samples=False, covers=lambda p: p.greedy_correct is not None)
def _greedy(p: ProblemSamples, k: int, item: Optional[str]) -> float:
    return math.nan if p.greedy_correct is None else float(p.greedy_correct)  # k is ignored


@METRICS.register("pass@k", key="pass@{k}")
def _pass(p: ProblemSamples, k: int, item: Optional[str]) -> float:
    return pass_at_k(p.n, sum(map(bool, p.correct)), k)


@METRICS.register("maj@k", key="maj@{k}")
def _majority(p: ProblemSamples, k: int, item: Optional[str]) -> float:
    return maj_at_k(p.answers, p.correct, k, p.options)


@METRICS.register("random@k", key="random@{k}|{n}")
def _random(p: ProblemSamples, k: int, item: Optional[str]) -> float:
    return random_at_k(p.n, sum(map(bool, p.correct)), k)


@METRICS.register("oracle@N", key="oracle@{n}")
def _oracle(p: ProblemSamples, k: int, item: Optional[str]) -> float:
    return pass_at_k(p.n, sum(map(bool, p.correct)), p.n)


@METRICS.register("probe", key="{item}", over="flags")
def _flagged_share(p: ProblemSamples, k: int, item: Optional[str]) -> float:
    return sum(p.flags[item]) / p.n  # reported under the probe's own name


@METRICS.register("success@k", key="success@{k}|{n}/{item}", over="selectors")
def _success(p: ProblemSamples, k: int, item: Optional[str]) -> float:
    return success_at_k(p.scores[item], p.correct, k)


@METRICS.register("weighted_vote", key="weighted_vote/{item}", over="selectors")
def _weighted_vote(p: ProblemSamples, k: int, item: Optional[str]) -> float:
    return weighted_vote(p.answers, p.scores[item], p.correct, p.options)


def _entry(values: list[float], seed: int) -> dict:
    v = np.asarray(values, dtype=np.float64)
    v = v[~np.isnan(v)]
    lo, hi = bootstrap_ci(v.tolist(), seed)
    return {"value": float(v.mean()) if v.size else math.nan, "ci": [lo, hi], "n": int(v.size)}


def _holds(problem: ProblemSamples, metric: Metric, item: Optional[str]) -> bool:
    if metric.over == "selectors":
        return item in problem.scores
    if metric.over == "flags":
        return item in problem.flags
    return metric.covers is None or metric.covers(problem)


def summarize(problems: list[ProblemSamples], ks: list[int], selectors: list[str], seed: int) -> dict[str, dict]:
    """Mean, bootstrap CI and problem count of every registered metric over the problems (see :class:`Metric`).

    Keys of the built-in metrics: "greedy_accuracy" (problems with a greedy label only), f"pass@{k}", f"maj@{k}",
    f"random@{k}|{N}", f"oracle@{N}" (= pass@N), the name of every probe (share of samples it flags, on problems
    whose samples carry its flags), and per selector s scored on some problem
    f"success@{k}|{N}/{s}" and f"weighted_vote/{s}" (over the problems that have s). N is the
    smallest sample count; larger problems are cut to their first N samples so every metric is
    over the same N. ks above N are skipped. Every CI uses the same seed, so metrics over the
    same problems are resampled identically (paired comparisons).
    """
    out: dict[str, dict] = {}
    if not problems:
        return out
    n = min(p.n for p in problems)
    probs = [p.head(n) for p in problems]
    items = {None: [None], "selectors": selectors, "flags": sorted({f for p in probs for f in p.flags})}
    for _, metric in METRICS.items():
        if metric.needs_samples and n == 0:
            continue
        ks_of = [k for k in ks if 1 <= k <= n] if "{k}" in metric.key else [n]
        for item in items[metric.over]:
            held = [p for p in probs if _holds(p, metric, item)]
            if not held:
                continue
            for k in ks_of:
                key = metric.key.format(k=k, n=n, item=item)
                if key in out:  # a probe named like another metric's key
                    raise ValueError(f"summary key {key!r} is given by two metrics; rename the probe")
                out[key] = _entry([metric(p, k, item) for p in held], seed)
    return out


def metric_order(name: str) -> tuple:
    """Sort key of a summary key: the per-selector ones last (by selector), each group in registration order,
    then by k. A key is the metric's whose key pattern matches it with the most fixed text: a probe's key is its
    bare name (``{item}``), which every other key matches too."""
    rank, k, fixed = len(METRICS), 0, -1
    for i, (_, metric) in enumerate(METRICS.items()):
        match = metric.pattern().match(name)
        text = len(re.sub(r"\{(k|n|item)\}", "", metric.key))
        if match and text > fixed:
            rank, k, fixed = i, int(match.groupdict().get("k") or 0), text
    return ("/" in name, name.split("/")[1] if "/" in name else "", rank, k, name)
