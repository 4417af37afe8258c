"""Trainer callbacks: metrics.jsonl and progress."""

from __future__ import annotations

import json
import math
from pathlib import Path

from transformers import TrainerCallback


SUMMARY_KEY = "train_runtime"
"""Only the Trainer's end-of-training summary row has this key."""


class MetricsJsonl(TrainerCallback):
    """Appends one JSON line per logging step to ``<run_dir>/metrics.jsonl``.

    On resume, lines past the restored step are dropped first, and so is the end-of-training summary
    row of the interrupted call (it carries ``train_runtime``), so a resumed run's file equals the
    uninterrupted run's.
    """

    def __init__(self, path: Path):
        self.path = Path(path)

    def on_train_begin(self, args, state, control, **kwargs):
        if not state.is_world_process_zero or not self.path.exists():
            return
        kept = [line for line in self.path.read_text().splitlines() if line and _keep(json.loads(line), state.global_step)]
        self.path.write_text("".join(line + "\n" for line in kept))

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
