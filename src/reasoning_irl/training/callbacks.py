"""Trainer callbacks: metrics.jsonl and progress."""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path

from transformers import TrainerCallback

from reasoning_irl.config import ConfigError
from reasoning_irl.runs import atomic_write_text

log = logging.getLogger(__name__)


SUMMARY_KEY = "train_runtime"
"""Only the Trainer's end-of-training summary row has this key."""


class MetricsJsonl(TrainerCallback):
    """Appends one JSON line per logging step to ``<run_dir>/metrics.jsonl``.

    On resume, lines past the restored step are dropped first, and so is the end-of-training summary
    row of the interrupted call (it carries ``train_runtime``), so a resumed run's file equals the
    uninterrupted run's. A last line torn by a run killed mid-write is dropped too (:func:`read_rows`).
    A fresh run (step 0) into a folder whose earlier run died before its first checkpoint starts a new file;
    the earlier one is kept beside it as ``metrics.stale.jsonl``, said once.
    """

    def __init__(self, path: Path):
        self.path = Path(path)

    def on_train_begin(self, args, state, control, **kwargs):
        if not state.is_world_process_zero or not self.path.exists():
            return
        if state.global_step == 0:  # nothing to resume: these rows are another run's
            stale = self.path.with_name("metrics.stale.jsonl")
            self.path.replace(stale)
            log.warning("%s held the rows of an earlier run that left no checkpoint; moved to %s", self.path, stale)
            return
        kept = [json.dumps(row) for row in read_rows(self.path) if _keep(row, state.global_step)]
        atomic_write_text(self.path, "".join(line + "\n" for line in kept))

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not state.is_world_process_zero or not logs:
            return
        row = {"step": state.global_step}
        for key, value in logs.items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                row[key] = value if math.isfinite(value) else str(value)
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(row) + "\n")


def _keep(row: dict, step: int) -> bool:
    return row.get("step", 0) <= step and SUMMARY_KEY not in row


def read_rows(path: Path) -> list[dict]:
    """The rows of a metrics.jsonl. A damaged last line is what a run killed mid-write leaves: it is dropped,
    with a warning. A damaged line before it is no torn write: refused in one line, the file left as it is."""
    lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    rows = []
    for number, line in enumerate(lines, start=1):
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            if number < len(lines):
                raise ConfigError(
                    f"{path}: line {number} is not JSON (damaged); repair or remove it, then resume"
                ) from None
            log.warning("%s: dropped its last line, torn by an interrupted write: %.60s", path, line)
    return rows
