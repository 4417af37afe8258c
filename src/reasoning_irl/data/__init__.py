"""Datasets in one record schema (see :mod:`reasoning_irl.data.schema`), selected by name.

    records = load_split({"name": "gsm8k", "path": "../shared/data/gsm8k"}, "test")
"""

from __future__ import annotations

from typing import Any

from reasoning_irl.config import ConfigError, validate
from reasoning_irl.data import gsm8k, medreason, synthetic  # noqa: F401  (registers the datasets)
from reasoning_irl.data.base import DATASETS, SPLITS, DatasetConfig, DatasetSpec, register_dataset
from reasoning_irl.data.prompts import render_conversation, render_prompt
from reasoning_irl.data.schema import (
    DEFAULT_SYSTEM_PROMPT,
    build_prompt,
    check_record,
    format_target,
    make_record,
    reasoning_steps,
)
from reasoning_irl.data.splits import split_records, subset
from reasoning_irl.registry import UnknownNameError

__all__ = [
    "DATASETS", "SPLITS", "DatasetConfig", "DatasetSpec", "register_dataset", "dataset_config", "load_split",
    "to_hf_dataset", "render_prompt", "render_conversation", "DEFAULT_SYSTEM_PROMPT", "build_prompt",
    "check_record", "format_target", "make_record", "reasoning_steps",
]


def dataset_config(section: Any) -> DatasetConfig:
    """Validate a ``dataset`` config section against its dataset's own schema."""
    name = (section or {}).get("name") if not isinstance(section, DatasetConfig) else section.name
    if isinstance(section, DatasetConfig):
        return section
    if not name:
        raise ConfigError("dataset.name is required")
    try:
        spec = DATASETS.get(name)
    except UnknownNameError as exc:
        raise ConfigError(str(exc)) from None
    return validate(section, spec.config, "dataset")


def load_split(section: Any, split: str) -> list[dict[str, Any]]:
    """Records of ``split`` (train / validation / test) for a dataset config section.

    Validation is carved from the source train split by a seeded draw (never from test);
    then a seeded ``ratio`` subset is taken.
    """
    cfg = dataset_config(section)
    if split not in SPLITS:
        raise ConfigError(f"unknown split {split!r}; choose one of: {', '.join(SPLITS)}")
    spec = DATASETS.get(cfg.name)
    if split == "test":
        records = spec.load_source(cfg, "test")
    else:
        try:
            records = split_records(spec.load_source(cfg, "train"), split, cfg.validation_size, cfg.seed)
        except ValueError as exc:
            raise ConfigError(f"dataset {cfg.name}: {exc}") from None
    return subset(records, cfg.ratio, cfg.seed)


def to_hf_dataset(records: list[dict[str, Any]]):
    """A ``datasets.Dataset`` of records (the form TRL trainers take)."""
    import datasets

    return datasets.Dataset.from_list(records)
