"""The data preview's settings (``python -m reasoning_irl.data``, configs/data_preview.yaml): which split of which
dataset, and how many records. Kept apart from the command so that the config composition can type it without
importing the command, which composes configs itself."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from reasoning_irl.config import ConfigError


@dataclass
class PreviewConfig:
    dataset: Any = None
    """Validated against the named dataset's own schema."""
    split: str = "test"
    """train | validation | test."""
    n: int = 3
    """How many records to print as JSON lines."""

    def check(self) -> None:
        if self.n < 0:
            raise ConfigError(f"n must be >= 0, got {self.n}")
