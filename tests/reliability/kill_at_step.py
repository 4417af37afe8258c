"""Run a training entry script and SIGKILL its own process right after step N's row reached metrics.jsonl.

    python tests/reliability/kill_at_step.py <N> train.py key=value ...

A kill -9 (the OOM killer, a preempted job) leaves what a raised exception would not: no handler or ``finally``
runs, no summary row, no ``final/``, and rows past the last checkpoint. The entry runs unchanged (``runpy``, as
``__main__``); this wrapper only wraps ``MetricsJsonl.on_log`` and registers the test reward of tests/training
(``tiny_runs.TEST_REWARD``), so the entry can be given it by name. Test-only: the training code has no such switch.
"""

from __future__ import annotations

import os
import runpy
import signal
import sys
from pathlib import Path

TRAINING_TESTS = Path(__file__).resolve().parents[1] / "training"


def install(kill_step: int) -> None:
    sys.path.insert(0, str(TRAINING_TESTS))
    from tiny_runs import TEST_REWARD, digit_share_reward

    from reasoning_irl.rewards import REWARDS
    from reasoning_irl.training.callbacks import MetricsJsonl

    REWARDS.register(TEST_REWARD)(digit_share_reward())
    write_row = MetricsJsonl.on_log

    def write_row_then_die(self, args, state, control, logs=None, **kwargs):
        write_row(self, args, state, control, logs=logs, **kwargs)
        if state.global_step == kill_step:
            os.kill(os.getpid(), signal.SIGKILL)

    MetricsJsonl.on_log = write_row_then_die


if __name__ == "__main__":
    step, entry, *overrides = sys.argv[1:]
    install(int(step))
    sys.argv = [entry, *overrides]
    runpy.run_path(entry, run_name="__main__")
