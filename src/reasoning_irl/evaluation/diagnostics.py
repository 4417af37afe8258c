"""Reward-model diagnostics against ground truth: ranking, pairwise preference, and whether
the token rewards locate the first corrupted reasoning step.

Steps and tokens are both given as character ranges ``[start, end)`` into the same completion
text; a token belongs to every step its range overlaps (a token straddling a boundary counts
for both, since the reward model saw it as part of each).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = [
    "auroc",
    "cluster_bootstrap_ci",
    "mann_whitney",
    "localization_baselines",
    "localization_chance",
    "localization_hit",
    "pairwise_accuracy",
    "step_rewards",
    "token_auroc_corrupted",
]


def auroc(scores_pos: Sequence[float], scores_neg: Sequence[float]) -> float:
    """P(a random positive scores above a random negative), ties counting 1/2: the Mann-Whitney U of the
    positives over n_pos * n_neg. NaN scores are dropped; an empty class gives NaN."""
    return mann_whitney(scores_pos, scores_neg)[1]


def mann_whitney(scores_pos: Sequence[float], scores_neg: Sequence[float]) -> tuple[float, float, float]:
    """(U, AUROC, two-sided p) of positives vs negatives: mid-ranks for ties, the continuity-corrected normal
    approximation for p (1 when every score ties). NaN scores are dropped; an empty class gives NaNs."""
    from scipy.stats import mannwhitneyu

    pos = np.asarray(scores_pos, dtype=np.float64).reshape(-1)
    neg = np.asarray(scores_neg, dtype=np.float64).reshape(-1)
    pos, neg = pos[~np.isnan(pos)], neg[~np.isnan(neg)]
    if pos.size == 0 or neg.size == 0:
        return math.nan, math.nan, math.nan
    if np.unique(np.concatenate([pos, neg])).size == 1:  # no spread: the normal approximation is undefined
        u = pos.size * neg.size / 2.0
        return u, 0.5, 1.0
    result = mannwhitneyu(pos, neg, alternative="two-sided", method="asymptotic", use_continuity=True)
    u = float(result.statistic)
    return u, u / (pos.size * neg.size), float(min(1.0, result.pvalue))


def pairwise_accuracy(
    expert_scores: Sequence[float], perturbed_scores: Sequence[float], pair_index: Sequence[int]
) -> float:
    """Fraction of perturbed rows j scored strictly below their own expert
    ``expert_scores[pair_index[j]]``; ties count 1/2. No rows -> NaN."""
    if len(perturbed_scores) != len(pair_index):
        raise ValueError(f"{len(perturbed_scores)} perturbed scores but {len(pair_index)} pair indices")
    if len(perturbed_scores) == 0:
        return math.nan
    expert = np.asarray(expert_scores, dtype=np.float64)[np.asarray(pair_index, dtype=np.int64)]
    pert = np.asarray(perturbed_scores, dtype=np.float64)
    return float(np.mean((expert > pert) + 0.5 * (expert == pert)))


def _step_masks(token_char_spans: Sequence[Sequence[int]], steps: Sequence[Sequence[int]]) -> np.ndarray:
    """Boolean [n_steps, n_tokens]: token overlaps step."""
    spans = np.asarray(token_char_spans, dtype=np.int64).reshape(-1, 2)
    bounds = np.asarray(steps, dtype=np.int64).reshape(-1, 2)
    return (spans[None, :, 0] < bounds[:, None, 1]) & (spans[None, :, 1] > bounds[:, None, 0])


def step_rewards(
    token_rewards: Sequence[float], token_char_spans: Sequence[tuple[int, int]], steps: Sequence[Sequence[int]]
) -> list[float]:
    """Mean token reward of each reasoning step; a step that no token overlaps gives NaN."""
    r = np.asarray(token_rewards, dtype=np.float64).reshape(-1)
    if len(token_char_spans) != r.size:
        raise ValueError(f"{r.size} token rewards but {len(token_char_spans)} token spans")
    masks = _step_masks(token_char_spans, steps)
    return [float(r[m].mean()) if m.any() else math.nan for m in masks]


def localization_hit(step_scores: Sequence[float], first_step: int) -> float:
    """Expected hit of "the lowest-scoring step is the first corrupted one".

    NaN steps are ignored. With several steps tied at the minimum, one is taken uniformly at
    random, so the value is 1/#tied when ``first_step`` is among them, else 0.0. No finite
    step score -> NaN.
    """
    s = np.asarray(step_scores, dtype=np.float64).reshape(-1)
    finite = ~np.isnan(s)
    if not finite.any():
        return math.nan
    tied = np.flatnonzero(finite & (s == s[finite].min()))
    return 1.0 / tied.size if first_step in tied else 0.0


def localization_chance(n_steps: int) -> float:
    """Hit rate of guessing the corrupted step uniformly among n_steps steps."""
    if n_steps < 1:
        raise ValueError(f"need at least one step, got {n_steps}")
    return 1.0 / n_steps


def localization_baselines(first_step: int, n_steps: int) -> dict[str, float]:
    """Hits of three guesses that ignore the rewards: always the first step, always the last, uniform.

    Perturbations tend to hit early steps, so "always the first step" can beat 1/n_steps by far; a
    localisation score only means something above the best of these.
    """
    if not 0 <= first_step < n_steps:
        raise ValueError(f"first_step {first_step} out of range for {n_steps} steps")
    return {
        "first_step": float(first_step == 0),
        "last_step": float(first_step == n_steps - 1),
        "uniform": localization_chance(n_steps),
    }


def cluster_bootstrap_ci(
    values: Sequence[float], groups: Sequence[Any], seed: int, n_resamples: int = 1000, alpha: float = 0.05
) -> tuple[float, float]:
    """Percentile CI of the mean of ``values`` resampling whole groups (problems) with replacement.

    Several traces of one problem share its difficulty, so resampling traces as if independent
    gives too narrow an interval. Each resample is the pooled mean of the drawn problems' values,
    the statistic the point estimate uses. The same seed and groups draw the same problems, so two
    metrics over the same traces are resampled in a paired way. NaN values are dropped first.
    """
    v = np.asarray(values, dtype=np.float64).reshape(-1)
    if v.size != len(groups):
        raise ValueError(f"{v.size} values but {len(groups)} group labels")
    keep = ~np.isnan(v)
    if not keep.any():
        return (math.nan, math.nan)
    _, g = np.unique(np.asarray([str(x) for x in groups], dtype=object)[keep], return_inverse=True)
    sums = np.bincount(g, weights=v[keep])
    counts = np.bincount(g).astype(np.float64)
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, sums.size, size=(n_resamples, sums.size))
    weight = np.stack([np.bincount(row, minlength=sums.size) for row in draws]).astype(np.float64)
    means = (weight @ sums) / (weight @ counts)
    lo, hi = np.quantile(means, [alpha / 2, 1 - alpha / 2])
    return (float(lo), float(hi))


def token_auroc_corrupted(
    token_rewards: Sequence[float],
    token_char_spans: Sequence[tuple[int, int]],
    steps: Sequence[Sequence[int]],
    first_step: int,
) -> tuple[list[float], list[float]]:
    """(rewards of tokens in the corrupted step, rewards of clean tokens in steps before it).

    Only earlier steps are clean for sure: later steps build on the corrupted value. A token
    overlapping the corrupted step is counted as corrupted only. Pool across examples and report
    ``auroc(clean, corrupted)``, i.e. clean tokens are the positives and corrupted tokens the
    negatives: 1.0 means every clean token outscores every corrupted one.
    """
    r = np.asarray(token_rewards, dtype=np.float64).reshape(-1)
    if len(token_char_spans) != r.size:
        raise ValueError(f"{r.size} token rewards but {len(token_char_spans)} token spans")
    if not 0 <= first_step < len(steps):
        raise ValueError(f"first_step {first_step} out of range for {len(steps)} steps")
    masks = _step_masks(token_char_spans, steps)
    corrupted = masks[first_step]
    clean = masks[:first_step].any(axis=0) & ~corrupted
    return r[corrupted].tolist(), r[clean].tolist()
