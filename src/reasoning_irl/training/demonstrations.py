"""The expert demonstrations a method learns from, and how scarce, noisy or foreign they are.

SFT imitates the training problems' expert targets; AIRL's discriminator takes them as positives. Both method
configs carry :class:`DemonstrationSettings`, and both runs pass their training records through
:func:`prepare_demonstrations`, so with the same seed they learn from the same demonstrations:

1. ``demonstration_style`` rewrites every target in a registered style (:mod:`reasoning_irl.data.styles`);
2. ``num_demonstrations`` keeps a seeded subset: a record outside it gets ``has_demonstration=False`` (SFT drops
   it; AIRL still samples its prompt but places no expert trace in its group and never takes its target as a
   positive). The subsets are nested: the first k of one seeded order, so 16 demonstrations are among the 64;
3. ``expert_error_rate`` corrupts that share of the demonstrations with a perturbation (:func:`corrupt_experts`).
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Optional

from reasoning_irl.config import ConfigError
from reasoning_irl.data.styles import DEMONSTRATION_STYLES, restyle
from reasoning_irl.rewards.perturbations import perturb


@dataclass
class DemonstrationSettings:
    """Keys shared by the methods that learn from expert demonstrations (``method=sft``, ``method=airl``)."""

    num_demonstrations: Optional[int] = None
    """Learn from this many expert demonstrations only: a seeded subset of the training problems, the same for
    SFT and AIRL at one seed and nested across counts (null = every training problem's). AIRL's policy still
    samples every training prompt."""
    expert_error_rate: float = 0.0
    """Seeded fraction of the demonstrations replaced by a perturbation and flagged (is_expert_error)."""
    demonstration_style: Optional[str] = None
    """Rewrite the demonstrations in a registered style (reasoning_irl.data.styles.DEMONSTRATION_STYLES); null =
    as the dataset writes them."""

    def check_demonstrations(self) -> None:
        if self.num_demonstrations is not None and self.num_demonstrations < 1:
            raise ConfigError(f"method.num_demonstrations must be >= 1 or null, got {self.num_demonstrations}")
        if not 0.0 <= self.expert_error_rate <= 1.0:
            raise ConfigError(f"method.expert_error_rate must be in [0, 1], got {self.expert_error_rate}")
        style = self.demonstration_style
        if style is not None and style not in DEMONSTRATION_STYLES:
            names = ", ".join(DEMONSTRATION_STYLES.names())
            raise ConfigError(f"method.demonstration_style: unknown {style!r}; choose one of: {names}")


def prepare_demonstrations(
    records: Sequence[dict[str, Any]], settings: DemonstrationSettings, perturbations: Sequence[str], seed: int
) -> list[dict[str, Any]]:
    """``records`` (a training split) with the demonstrations ``settings`` asks for; the input is not modified and,
    with every setting at its default, comes back unchanged."""
    out = list(records)
    if settings.demonstration_style is not None:
        out = [restyle(r, settings.demonstration_style) for r in out]
    chosen = range(len(out))
    if settings.num_demonstrations is not None:
        if settings.num_demonstrations > len(out):
            raise ConfigError(
                f"method.num_demonstrations={settings.num_demonstrations} but the training split has {len(out)} rows"
            )
        order = list(range(len(out)))
        random.Random(f"{seed}-demonstrations").shuffle(order)
        chosen = sorted(order[: settings.num_demonstrations])
        kept = set(chosen)
        out = [dict(r, has_demonstration=i in kept) for i, r in enumerate(out)]
    if settings.expert_error_rate > 0:
        corrupted = corrupt_experts(
            [out[i] for i in chosen], settings.expert_error_rate, perturbations, random.Random(f"{seed}-expert-errors")
        )
        for i, record in zip(chosen, corrupted):
            out[i] = record
    return out


def corrupt_experts(
    records: Sequence[dict[str, Any]], rate: float, names: Sequence[str], rng: random.Random
) -> list[dict[str, Any]]:
    """Copies of ``records`` where ``round(rate * n)`` expert targets are replaced by a perturbation.

    Records are visited in an ``rng``-shuffled order and corrupted until the quota is met; a
    record no perturbation can change is skipped (so fewer are corrupted only when too few can
    be). Corrupted records get ``is_expert_error=True`` and ``expert_error_first_step``; all
    others ``is_expert_error=False``. ``answer`` is left as the true answer. Same rng seed, same
    result; the input records are not modified.
    """
    if not 0.0 <= rate <= 1.0:
        raise ValueError(f"expert error rate must be in [0, 1], got {rate}")
    out = [dict(r, is_expert_error=False) for r in records]
    quota = math.floor(rate * len(out) + 0.5)  # round half up, unlike round()'s banker's rounding
    order = list(range(len(out)))
    rng.shuffle(order)
    done = 0
    for i in order:
        if done >= quota:
            break
        found = perturb(out[i]["target"], list(names), rng, 1)
        if not found or found[0].text == out[i]["target"]:
            continue
        out[i].update(target=found[0].text, is_expert_error=True, expert_error_first_step=found[0].first_step)
        done += 1
    return out
