"""Dataset configuration shared by every dataset, and the dataset registry."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Optional

from reasoning_irl.registry import Registry

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
    """A registered dataset: its config schema and a loader of its *source* splits.

    ``load_source(cfg, split)`` returns the records of ``split`` in ``("train", "test")``;
    validation carving and ratio subsets are applied on top by :func:`reasoning_irl.data.load_split`.
    """

    config: type
    load_source: Callable[[Any, str], list[dict[str, Any]]]
    description: str


DATASETS: Registry[DatasetSpec] = Registry("dataset")


def register_dataset(name: str, config: type, description: str):
    """Decorator: ``@register_dataset("gsm8k", Gsm8kConfig, "...")`` on a ``load_source`` function."""

    def decorator(fn: Callable[[Any, str], list[dict[str, Any]]]):
        DATASETS.add(name, DatasetSpec(config=config, load_source=fn, description=description))
        return fn

    return decorator
