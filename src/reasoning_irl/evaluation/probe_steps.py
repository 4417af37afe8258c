"""Does a token reward point at the step a probe flags? Measured on a reranked evaluation's samples.

A dense reward can only beat an outcome reward at a local error (e.g. one result off by 1-2, carried to the
answer) if its rewards are lower on the step that holds the error. Two measures over the samples a probe flags,
where its ``locate`` tells the step from the completion (:mod:`reasoning_irl.data.probes`):

* ``localization``: the lowest-reward step is the flagged one (ties split), beside the reward-free guesses
  (always the first step, always the last, uniform) and paired against the first (``vs_first_step``), every
  CI a bootstrap over problems;
* ``step_auroc``: the flagged step's mean token reward against the same step of correct samples that no probe
  flags, matched on position (same step count, same step index) so that a reward merely lower early in a
  trace does not count; the AUROCs of the cells, weighted by their flagged steps (clean above flagged = 1).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable
from typing import Any, Optional

import numpy as np

from reasoning_irl.data.schema import reasoning_steps
from reasoning_irl.evaluation.diagnostics import (
    auroc,
    cluster_bootstrap_ci,
    localization_baselines,
    localization_hit,
    step_rewards,
)
from reasoning_irl.models.scoring import char_spans


def _scored_steps(row: dict) -> Optional[tuple[list[list[int]], list[float]]]:
    """(steps, mean token reward per step) of a sample whose tokens spell its completion; None otherwise."""
    tokens, rewards, text = row.get("tokens"), row.get("token_rewards"), row["completion"]
    if not tokens or rewards is None or "".join(tokens) != text or len(tokens) != len(rewards):
        return None
    steps = reasoning_steps(text)
    return (steps, step_rewards(rewards, char_spans(tokens), steps)) if steps else None


def step_localization(
    rows: list[dict[str, Any]], flag: str, locate: Callable[[str], Optional[int]], seed: int = 0
) -> Optional[dict[str, Any]]:
    """The two measures of the module doc for the probe named ``flag``, whose ``locate`` gives the flagged step,
    over evaluation rows (``eval_results.jsonl`` of an evaluation reranked by a reward model, so rows carry
    ``tokens`` and ``token_rewards``); None when no flagged sample's step is located."""
    hits, problems, cells_flagged, cells_clean = [], [], defaultdict(list), defaultdict(list)
    guesses: dict[str, list[float]] = defaultdict(list)
    for row in rows:
        if row.get("greedy") or not row.get("flags"):
            continue
        shows = row["flags"].get(flag)
        if not shows and not (row["correct"] and not any(row["flags"].values())):
            continue
        scored = _scored_steps(row)
        if scored is None:
            continue
        steps, rewards = scored
        if not shows:
            for i, reward in enumerate(rewards):
                cells_clean[(len(steps), i)].append(reward)
            continue
        at = locate(row["completion"])
        if at is None:
            continue
        hits.append(localization_hit(rewards, at))
        problems.append(row["problem_id"])
        for name, hit in localization_baselines(at, len(steps)).items():
            guesses[name].append(hit)
        cells_flagged[(len(steps), at)].append(rewards[at])
    if not hits:
        return None

    def entry(values: list[float]) -> dict[str, Any]:
        lo, hi = cluster_bootstrap_ci(values, problems, seed)
        return {"value": float(np.nanmean(values)), "ci": [lo, hi], "n": len(values), "n_problems": len(set(problems))}

    matched = [(len(v), auroc(cells_clean[k], v)) for k, v in cells_flagged.items() if cells_clean.get(k)]
    matched = [(n, a) for n, a in matched if not math.isnan(a)]
    weight = sum(n for n, _ in matched)
    return {
        "flag": flag,
        "localization": entry(hits),
        "baselines": {name: entry(guesses[name]) for name in ("first_step", "last_step", "uniform")},
        # Paired per sample: the reward's hit minus "always the first step", the strongest guess here.
        "vs_first_step": entry([hit - first for hit, first in zip(hits, guesses["first_step"])]),
        "step_auroc": {
            "value": sum(n * a for n, a in matched) / weight if weight else math.nan,
            "n_flagged_steps": weight,
        },
    }
