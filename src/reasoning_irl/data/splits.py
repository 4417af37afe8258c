"""Seeded split carving and subsetting (pure functions on lists of records)."""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any, TypeVar

T = TypeVar("T")


def validation_count(size: float, n_rows: int) -> int:
    """Rows for validation: ``size`` is a fraction if < 1, else a count (capped below ``n_rows``)."""
    count = round(size * n_rows) if size < 1 else int(size)
    if n_rows and count >= n_rows:
        raise ValueError(f"validation_size={size} leaves no training rows out of {n_rows}")
    return count


def carve(rows: Sequence[T], count: int, seed: int, salt: str = "validation") -> tuple[list[T], list[T]]:
    """Split ``rows`` into (rest, carved) with ``count`` carved rows chosen by ``seed``; order is kept."""
    rng = random.Random(f"{seed}-{salt}")
    chosen = set(rng.sample(range(len(rows)), count)) if count else set()
    rest = [r for i, r in enumerate(rows) if i not in chosen]
    carved = [r for i, r in enumerate(rows) if i in chosen]
    return rest, carved


def subset(rows: Sequence[T], ratio: float, seed: int, salt: str = "ratio") -> list[T]:
    """A seeded random ``ratio`` of ``rows`` (at least one row when ``rows`` is non-empty), order kept."""
    if ratio >= 1.0:
        return list(rows)
    keep = max(1, round(ratio * len(rows))) if rows else 0
    _, kept = carve(rows, keep, seed, salt)
    return kept


def split_records(records: list[dict[str, Any]], split: str, validation_size: float, seed: int) -> list[dict[str, Any]]:
    """From a source *train* list, return the ``train`` or ``validation`` part of the seeded carve."""
    count = validation_count(validation_size, len(records))
    train, validation = carve(records, count, seed)
    return validation if split == "validation" else train
