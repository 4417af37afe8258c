"""Problem-level statistics for the figures: the N samples of one problem share its difficulty, so every
interval and p-value here resamples whole problems, and quantities compared with each other (one method's
selectors, success@1 against random@1) are resampled with the same problems (paired)."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence

import numpy as np

N_RESAMPLES = 1000


def _problem_weights(groups: Sequence, seed: int, n_resamples: int) -> tuple[np.ndarray, np.ndarray]:
    """(row -> problem index, [n_resamples, n_problems] multiplicity of each problem in each resample)."""
    _, g = np.unique(np.asarray([str(x) for x in groups], dtype=object), return_inverse=True)
    n_groups = int(g.max()) + 1 if g.size else 0
    draws = np.random.default_rng(seed).integers(0, max(n_groups, 1), size=(n_resamples, n_groups))
    counts = np.zeros((n_resamples, n_groups))
    np.add.at(counts, (np.repeat(np.arange(n_resamples), n_groups), draws.reshape(-1)), 1.0)
    return g, counts


def _weighted_auroc(s: np.ndarray, y: np.ndarray, w: np.ndarray) -> np.ndarray:
    """AUROC (ties 1/2) of positives y over negatives with row weights ``w`` [R, n]: one value per row of w."""
    order = np.argsort(s, kind="stable")
    s, y, w = s[order], y[order], w[:, order]
    lo, hi = np.searchsorted(s, s, "left"), np.searchsorted(s, s, "right")
    neg = np.concatenate([np.zeros((w.shape[0], 1)), np.cumsum(w * ~y, axis=1)], axis=1)
    wins = neg[:, lo] + 0.5 * (neg[:, hi] - neg[:, lo])  # negative weight below, half of the tied
    num = (w * y * wins).sum(axis=1)
    den = (w * y).sum(axis=1) * (w * ~y).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / den, np.nan)


def auroc_by_problem(
    scores: Sequence[float], correct: Sequence[bool], groups: Sequence, seed: int = 0, n_resamples: int = N_RESAMPLES
) -> dict:
    """Pooled AUROC of correct over wrong samples, its 95% CI and a two-sided p for "AUROC = 0.5", both from
    a bootstrap over problems. p is the share of resamples on the far side of 0.5, doubled; it cannot go below
    1/n_resamples (reported as such). NaN when a class is empty."""
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(correct, dtype=bool)
    if s.size == 0 or y.all() or not y.any():
        return {"auroc": math.nan, "ci": [math.nan, math.nan], "p": math.nan, "n_problems": len(set(map(str, groups)))}
    value = float(_weighted_auroc(s, y, np.ones((1, s.size)))[0])
    g, counts = _problem_weights(groups, seed, n_resamples)
    boot = _weighted_auroc(s, y, counts[:, g])
    boot = boot[~np.isnan(boot)]
    lo, hi = np.quantile(boot, [0.025, 0.975])
    p = min(1.0, 2 * min(np.mean(boot <= 0.5), np.mean(boot >= 0.5)))
    return {
        "auroc": value,
        "ci": [float(lo), float(hi)],
        "p": max(p, 1.0 / n_resamples),
        "n_problems": int(g.max()) + 1,
    }


def gain_over_random(rows: list[dict], seed: int = 0, n_resamples: int = N_RESAMPLES) -> dict[str, dict]:
    """Per selector: mean over problems of success@1 - random@1 (reranking by the reward vs a uniform pick),
    with a paired bootstrap CI over problems. Each problem is cut to its first N samples, N the smallest
    sample count, as the evaluator does, so the numbers match eval_summary.json's success@1|N and random@1|N."""
    from reasoning_irl.evaluation.metrics import bootstrap_ci, random_at_k, success_at_k

    by_problem: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        if not r.get("greedy") and isinstance(r.get("scores"), dict):
            by_problem[str(r.get("problem_id"))].append(r)
    if not by_problem:
        return {}
    n = min(len(v) for v in by_problem.values())
    samples = {p: sorted(v, key=lambda r: r.get("sample_index", 0))[:n] for p, v in by_problem.items()}
    selectors = [
        s
        for s in next(iter(samples.values()))[0]["scores"]
        if all(isinstance(r["scores"].get(s), (int, float)) for v in samples.values() for r in v)
    ]
    out = {}
    for sel in selectors:
        diffs = []
        for v in samples.values():
            ok = [bool(r.get("correct")) for r in v]
            diffs.append(success_at_k([float(r["scores"][sel]) for r in v], ok, 1) - random_at_k(n, sum(ok), 1))
        lo, hi = bootstrap_ci(diffs, seed, n_resamples)
        out[sel] = {"value": float(np.mean(diffs)), "ci": [lo, hi], "n": len(diffs), "N": n}
    return out
