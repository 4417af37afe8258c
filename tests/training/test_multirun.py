"""Hydra multirun gives every job its own run folder."""

from __future__ import annotations

import subprocess
import sys


def test_multirun_two_by_two_gives_four_run_folders(repo_root, tmp_path, artifacts):
    out = tmp_path / "runs"
    cmd = [
        sys.executable,
        "sft_train.py",
        "-m",
        "experiment=tiny_sft",
        "seed=1,2",
        "method.max_length=128,192",
        "training.max_steps=1",
        "training.save_steps=5",
        "training.logging_steps=1",
        "training.per_device_batch_size=2",
        "dataset.num_train=8",
        "dataset.num_test=2",
        "dataset.validation_size=0",
        "run_name=sweep",
        f"output_root={out}",
        f"artifacts_dir={artifacts}",
    ]
    done = subprocess.run(cmd, cwd=repo_root, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    finals = sorted(p.parent.name for p in (out / "sweep").glob("*/final"))
    assert finals == [
        "method.max_length=128,seed=1",
        "method.max_length=128,seed=2",
        "method.max_length=192,seed=1",
        "method.max_length=192,seed=2",
    ]
    for name in finals:
        assert (out / "sweep" / name / "metrics.jsonl").is_file() and (out / "sweep" / name / "config.yaml").is_file()
