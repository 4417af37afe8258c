"""Trainer callbacks: metrics.jsonl, and torch threads handed over by a scheduler."""

from __future__ import annotations

import json
import logging
import math
import os
from pathlib import Path

from transformers import TrainerCallback

from reasoning_irl.config import ConfigError
from reasoning_irl.runs import atomic_write_text, writing_into

log = logging.getLogger(__name__)


THREADS_FILE_ENV = "REASONING_IRL_THREADS_FILE"
"""Names a file holding the number of torch threads a training run should use (see :class:`ThreadsFromFile`)."""

SUMMARY_KEY = "train_runtime"
"""Only the Trainer's end-of-training summary row has this key."""


def run_callbacks(run_dir: Path) -> list[TrainerCallback]:
    """The callbacks every training run takes: its metrics.jsonl, and the thread count a scheduler may hand it."""
    callbacks: list[TrainerCallback] = [MetricsJsonl(Path(run_dir) / "metrics.jsonl")]
    if os.environ.get(THREADS_FILE_ENV):
        callbacks.append(ThreadsFromFile(Path(os.environ[THREADS_FILE_ENV])))
    return callbacks


class ThreadsFromFile(TrainerCallback):
    """Sets torch's thread count to the number in a file, read again before every step once the file changed.

    CPU jobs run side by side each get a share of the cores; when one ends, its scheduler writes the freed cores
    into the files of those still running (runner_scripts/demo.sh does), so the longest job does not finish on
    one core while another idles. A missing file keeps the current count; a damaged one is said once and ignored.
    The count decides speed, not what is computed, on the models measured (the demo's runs are bit-identical at
    1 and 2 threads, docs/demo.md); a BLAS may in general round differently with another count.
    """

    def __init__(self, path: Path):
        self.path = Path(path)
        self._seen: int | None = None  # the file's mtime when last read

    def on_step_begin(self, args, state, control, **kwargs):
        try:
            changed = self.path.stat().st_mtime_ns
        except FileNotFoundError:
            return
        if changed == self._seen:
            return
        self._seen = changed
        text = self.path.read_text(encoding="utf-8").strip()
        if not text.isdigit() or int(text) < 1:
            log.warning("%s: %r is not a thread count (a whole number >= 1); threads left as they are", self.path, text)
            return
        import torch

        if int(text) != torch.get_num_threads():
            log.info("torch threads: %d -> %s (%s)", torch.get_num_threads(), text, self.path)
            torch.set_num_threads(int(text))


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
        # A torn last line is what resume drops (read_rows): the checkpoints and earlier rows stay good.
        with writing_into(self.path.parent, "then resume with training.resume_from=auto"):
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
