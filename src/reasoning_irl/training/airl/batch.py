"""Discriminator batches: expert positives against policy samples and perturbed experts.

Rows of one step (:func:`build_disc_batch`):

* positives: each record's expert ``target`` once (``kind="expert"``, label 1);
* negatives: the policy samples of each record (``kind="policy"``) and up to ``k`` perturbed
  copies of each record's target (``kind="perturbed"``), label 0.

With outcome labels (PRIME, :func:`build_outcome_batch`) the rows are the policy samples alone, each labelled by
its verifiable outcome.

Every row carries the prompt of the record it came from (``source_index``) -- never another
record's prompt. Weights: the positives share a total weight of 1 equally, and the negatives
share a total weight of 1 equally (by count, so the policy and perturbed classes split the
negative mass in proportion to their row counts). A weighted loss ``sum(w * loss)`` is thus a
mean over positives plus a mean over negatives.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Optional

from reasoning_irl.rewards.perturbations import perturb

KINDS = ("expert", "policy", "perturbed")


@dataclass(frozen=True)
class DiscRow:
    prompt: list[dict[str, str]]
    """Chat messages of the row's own record."""
    completion: str
    label: int
    """1 for expert rows, 0 for negatives."""
    kind: str
    """expert | policy | perturbed."""
    source_index: int
    """Index of the record (in ``records_of_step``) the row came from."""
    weight: float
    first_step: Optional[int] = None
    """First corrupted reasoning line of a perturbed row (None: only the answer changed)."""
    perturbation: Optional[str] = None
    """Name of the perturbation that made a perturbed row."""
    is_expert_error: bool = False
    """The expert target itself was corrupted (:func:`reasoning_irl.training.demonstrations.corrupt_experts`)."""


def build_disc_batch(
    records_of_step: Sequence[dict[str, Any]],
    policy_samples: Sequence[Sequence[str]],
    perturbation_names: Sequence[str],
    k: int,
    rng: random.Random,
) -> list[DiscRow]:
    """The weighted discriminator rows of one step.

    ``policy_samples[i]`` holds the policy completions sampled for ``records_of_step[i]`` (group
    the trainer's flat list by prompt first). Perturbed copies that are None, empty or equal to
    the original target are dropped, so a record may yield fewer than ``k``.
    """
    if len(policy_samples) != len(records_of_step):
        raise ValueError(f"policy_samples has {len(policy_samples)} groups for {len(records_of_step)} records")
    positives: list[dict[str, Any]] = []
    negatives: list[dict[str, Any]] = []
    for i, (record, samples) in enumerate(zip(records_of_step, policy_samples)):
        prompt, target = record["prompt"], record["target"]
        for completion in samples:
            negatives.append(dict(prompt=prompt, completion=completion, label=0, kind="policy", source_index=i))
        if not record.get("has_demonstration", True):  # method.num_demonstrations: its target is not given
            continue
        positives.append(
            dict(
                prompt=prompt,
                completion=target,
                label=1,
                kind="expert",
                source_index=i,
                is_expert_error=bool(record.get("is_expert_error", False)),
            )
        )
        for p in perturb(target, list(perturbation_names), rng, k) if k > 0 else []:
            # perturb() already promises changed copies; checked again because a dropped-check
            # here would silently label the expert's own text as a negative.
            if p is None or not p.text or p.text == target:
                continue
            negatives.append(
                dict(
                    prompt=prompt,
                    completion=p.text,
                    label=0,
                    kind="perturbed",
                    source_index=i,
                    first_step=p.first_step,
                    perturbation=p.kind,
                )
            )
    if not positives:
        raise ValueError("a discriminator batch needs at least one record with a demonstration")
    rows = [DiscRow(weight=1.0 / len(positives), **r) for r in positives]
    rows += [DiscRow(weight=1.0 / len(negatives), **r) for r in negatives]
    return rows


def build_outcome_batch(
    records_of_step: Sequence[dict[str, Any]],
    policy_samples: Sequence[Sequence[str]],
    outcomes: Sequence[Sequence[float]],
) -> list[DiscRow]:
    """PRIME's rows of one step: every policy sample (``kind="policy"``), labelled 1 when its outcome reward
    ``outcomes[i][j]`` is positive and 0 otherwise, all of equal weight (a plain mean cross-entropy over samples)."""
    if not len(policy_samples) == len(outcomes) == len(records_of_step):
        raise ValueError(
            f"{len(policy_samples)} sample groups and {len(outcomes)} outcome groups for {len(records_of_step)} records"
        )
    rows = [
        dict(prompt=record["prompt"], completion=text, label=int(value > 0), kind="policy", source_index=i)
        for i, (record, texts, values) in enumerate(zip(records_of_step, policy_samples, outcomes))
        for text, value in zip(texts, values, strict=True)
    ]
    if not rows:
        raise ValueError("an outcome-labelled batch needs at least one policy sample")
    return [DiscRow(weight=1.0 / len(rows), **r) for r in rows]
