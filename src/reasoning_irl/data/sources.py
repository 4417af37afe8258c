"""Reading a dataset's rows from a local folder or from the hub, with one clear error either way."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Optional

from reasoning_irl.config import ConfigError
from reasoning_irl.runs import read_jsonl

log = logging.getLogger(__name__)


def is_local(path: str) -> bool:
    """True if ``path`` names the file system rather than a hub dataset id."""
    return Path(path).expanduser().exists() or path.startswith((".", "/", "~")) or path.endswith((".jsonl", ".json"))


def read_local_split(folder: str, split: str, dataset: str) -> list[dict[str, Any]]:
    """``<folder>/<split>.jsonl``; a missing folder or file is a :class:`ConfigError`."""
    root = Path(folder).expanduser()
    if not root.exists():
        raise ConfigError(f"dataset {dataset}: path {folder} does not exist")
    if root.is_file():
        raise ConfigError(f"dataset {dataset}: path {folder} must be a folder holding <split>.jsonl files")
    file = root / f"{split}.jsonl"
    if not file.is_file():
        have = sorted(p.name for p in root.glob("*.jsonl"))
        raise ConfigError(f"dataset {dataset}: no {split}.jsonl in {folder} (found: {', '.join(have) or 'none'})")
    return read_jsonl(file, f"dataset {dataset}")  # a line not UTF-8 or not JSON: one line naming file:line


def read_hub_split(name: str, split: str, dataset: str, subset: Optional[str] = None) -> list[dict[str, Any]]:
    """Rows of a hub dataset split via ``datasets.load_dataset``; failures become one clear line."""
    import datasets

    try:
        ds = datasets.load_dataset(name, subset, split=split)
    except Exception as exc:  # network, auth, unknown split: all reported the same way
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ConfigError(
            f"dataset {dataset}: could not load {name!r} split {split!r} from the hub ({first}); "
            f"without hub access set dataset.path to a local folder"
        ) from None
    return [dict(row) for row in ds]


def read_split(path: str, split: str, dataset: str, subset: Optional[str] = None) -> list[dict[str, Any]]:
    """Local folder if ``path`` is one, else a hub dataset id."""
    if is_local(path):
        return read_local_split(path, split, dataset)
    return read_hub_split(path, split, dataset, subset)


class MalformedRows:
    """Counts rows a loader had to skip and reports them once, never silently."""

    def __init__(self, dataset: str, split: str):
        self.dataset, self.split = dataset, split
        self.total = 0
        self.skipped: list[tuple[int, str]] = []

    def rows(self, rows: list[dict[str, Any]]) -> Iterator[tuple[int, dict[str, Any]]]:
        self.total = len(rows)
        return iter(enumerate(rows))

    def skip(self, index: int, reason: str) -> None:
        self.skipped.append((index, reason))

    def report(self) -> None:
        if not self.skipped:
            return
        index, reason = self.skipped[0]
        log.warning(
            "%s/%s: skipped %d of %d malformed rows (first: row %d, %s)",
            self.dataset,
            self.split,
            len(self.skipped),
            self.total,
            index,
            reason,
        )
        if len(self.skipped) == self.total:
            raise ConfigError(f"dataset {self.dataset}: every row of split {self.split} is malformed ({reason})")
