"""Dataset configuration shared by every dataset, and the dataset registry."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Optional

from reasoning_irl.registry import Registry, wrapped_in

SPLITS = ("train", "validation", "test")


@dataclass
class DatasetConfig:
    """Keys every dataset accepts. A dataset adds its own keys by subclassing."""

    name: str = "synthetic"
    """Registered dataset name (``dataset=<name>`` selects its config file)."""
    ratio: float = 1.0
    """Keep this seeded random fraction of every split (0 < ratio <= 1)."""
    validation_size: float = 0.05
    """Rows carved from train for validation: a fraction if < 1, else a count. Never taken from test."""
    seed: int = 0
    """Seed of the validation carve and the ratio subset."""
    no_system: bool = False
    """Merge the instruction into the user turn (for chat templates without a system role)."""
    system_prompt: Optional[str] = None
    """Instruction text; null uses the project default (``reasoning_irl.data.schema.DEFAULT_SYSTEM_PROMPT``)."""

    def check(self) -> None:
        if not 0.0 < self.ratio <= 1.0:
            raise_config(f"dataset.ratio must be in (0, 1], got {self.ratio}")
        if self.validation_size < 0:
            raise_config(f"dataset.validation_size must be >= 0, got {self.validation_size}")
        if self.validation_size >= 1 and self.validation_size != int(self.validation_size):
            raise_config(f"dataset.validation_size >= 1 must be a whole count, got {self.validation_size}")


def raise_config(message: str) -> None:
    from reasoning_irl.config import ConfigError

    raise ConfigError(message)


@dataclass(frozen=True)
class DatasetSpec:
    """A registered dataset: a loader of its *source* splits, its config schema and a one-line description.

    ``load_source(cfg, split)`` returns the records of ``split`` in ``("train", "test")``;
    validation carving and ratio subsets are applied on top by :func:`reasoning_irl.data.load_split`.
    """

    load_source: Callable[[Any, str], list[dict[str, Any]]]
    config: type
    description: str
    probes: Optional[Callable[[Any], dict[str, Any]]] = None
    """``probes(cfg)``: {name: :class:`~reasoning_irl.data.probes.Probe`} the dataset's completions are checked with
    (beside those ``@PROBES.register``-ed for it); see :mod:`reasoning_irl.data.probes`."""


DATASETS: Registry[DatasetSpec] = Registry("dataset", entry=wrapped_in(DatasetSpec))
"""``@DATASETS.register("gsm8k", config=Gsm8kConfig, description="...")`` on a ``load_source`` function; the
dataset also needs its group option, ``configs/dataset/<name>.yaml``."""
