"""Two-process training through ``accelerate launch`` for real (CPU, gloo): AIRL with a resume, AIRL and VeriFree
whose sampling groups span both processes, and SFT.

``--multi_gpu`` is the flag that starts several processes: ``--cpu`` makes accelerate 1.15 use its single-process
launcher (CPU multi-process there means an MPI hostfile). Without CUDA (hidden here), the processes run on the
CPU and talk over gloo. ``rank_dump.py`` wraps the entry script so every rank reports its final weights.
GRPO (train.py) shares AIRL's trainer base and was checked the same way by hand; a test of it would add ~25 s.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from tiny_runs import read_metrics

pytestmark = pytest.mark.distributed

HERE = Path(__file__).resolve().parent
AIRL = [
    "experiment=tiny_airl",
    "run_name=ddp",
    "dataset.num_train=8",
    "dataset.num_test=2",
    "training.per_device_batch_size=4",
    "training.save_steps=1",
    "sampling.max_completion_length=6",
    "method.disc_updates_per_step=2",
    "method.perturbations_per_expert=2",
    "method.structured_discriminator=true",  # the policy's log-probabilities come from the DDP-wrapped policy
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def launch(repo_root: Path, dump: Path, entry: str, *overrides: str) -> None:
    cmd = [
        sys.executable,
        "-m",
        "accelerate.commands.launch",
        "--multi_gpu",
        "--num_processes",
        "2",
        "--num_machines",
        "1",
        "--mixed_precision",
        "no",
        "--dynamo_backend",
        "no",
        "--main_process_port",
        str(free_port()),
        str(HERE / "rank_dump.py"),
        str(dump),
        entry,
        *overrides,
    ]
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}
    done = subprocess.run(cmd, cwd=repo_root, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]


def test_two_processes_train_resume_and_agree(repo_root, artifacts, tmp_path):
    out, dump = tmp_path / "runs", tmp_path / "dump"
    common = [*AIRL, f"output_root={out}", f"artifacts_dir={artifacts}"]
    launch(repo_root, dump, "irl_train.py", *common, "training.max_steps=1")
    launch(repo_root, dump, "irl_train.py", *common, "training.max_steps=2", "training.resume_from=auto")
    ranks = [json.loads((dump / f"rank{i}.json").read_text()) for i in (0, 1)]
    assert [r["num_processes"] for r in ranks] == [2, 2]
    # The discriminator goes through accelerate (DDP-wrapped model, accelerate's optimizer) ...
    assert all(r["disc_model_type"] == "DistributedDataParallel" and r["disc_optimizer_prepared"] for r in ranks)
    # ... and after training and a resume both ranks hold the same policy adapter and discriminator.
    assert ranks[0]["policy"] == ranks[1]["policy"] and ranks[0]["disc"] == ranks[1]["disc"]

    run_dir = out / "ddp"
    # One set of checkpoints, written once (README.md is the model card TRL writes); the staging area is gone.
    assert sorted(p.name for p in run_dir.iterdir() if not p.name.startswith(".hydra")) == [
        "README.md",
        "checkpoint-1",
        "checkpoint-2",
        "config.yaml",
        "final",
        "irl_train.log",
        "metrics.jsonl",
        "reward_model",
    ]
    # Each process perturbs its own records: the checkpoint keeps every process's perturbation RNG for the resume.
    assert len(torch.load(run_dir / "checkpoint-2" / "airl_state.pt", weights_only=False)["rng_per_process"]) == 2
    # Hydra's log holds the main process only: one "loading policy" line per launch.
    assert (run_dir / "irl_train.log").read_text().count("loading policy") == 2
    # One metrics row per step (the interrupted call's summary row dropped), each the mean over the ranks.
    rows = read_metrics(run_dir)
    assert [r["step"] for r in rows if "train_runtime" not in r] == [1, 2]
    assert sum("train_runtime" in r for r in rows) == 1
    step2 = rows[1]
    local = [r["disc_metrics"][-1] for r in ranks]  # what each rank computed at step 2 on its own rows
    assert local[0]["disc/loss"] != local[1]["disc/loss"]
    assert step2["disc/loss"] == pytest.approx((local[0]["disc/loss"] + local[1]["disc/loss"]) / 2, rel=1e-6)


def test_two_process_sft_agrees_and_writes_once(repo_root, artifacts, tmp_path):
    out, dump = tmp_path / "runs", tmp_path / "dump"
    launch(
        repo_root,
        dump,
        "sft_train.py",
        "experiment=tiny_sft",
        "run_name=ddp",
        "dataset.num_train=8",
        "method.max_length=128",
        "training.per_device_batch_size=2",
        "training.max_steps=2",
        "training.save_steps=2",
        "training.logging_steps=1",
        f"output_root={out}",
        f"artifacts_dir={artifacts}",
    )
    ranks = [json.loads((dump / f"rank{i}.json").read_text()) for i in (0, 1)]
    assert [r["num_processes"] for r in ranks] == [2, 2] and ranks[0]["policy"] == ranks[1]["policy"]
    run_dir = out / "ddp"
    assert sorted(p.name for p in run_dir.glob("checkpoint-*")) == ["checkpoint-2"]
    assert [r["step"] for r in read_metrics(run_dir)] == [1, 2, 2]  # two steps and the summary row
    assert (run_dir / "sft_train.log").read_text().count("loading policy") == 1


def test_group_spanning_two_processes(repo_root, artifacts, tmp_path):
    """2 completions per process and groups of 4: every group is split between the processes. The expert
    trace takes the last slot of the group (on rank 1), not the last slot of each process's share."""
    out, dump = tmp_path / "runs", tmp_path / "dump"
    launch(
        repo_root,
        dump,
        "irl_train.py",
        *AIRL,
        "training.per_device_batch_size=2",
        "sampling.num_generations=4",
        "method.expert_in_group=one",
        "training.max_steps=2",
        "training.save_steps=2",
        f"output_root={out}",
        f"artifacts_dir={artifacts}",
    )
    ranks = [json.loads((dump / f"rank{i}.json").read_text()) for i in (0, 1)]
    assert ranks[0]["policy"] == ranks[1]["policy"] and ranks[0]["disc"] == ranks[1]["disc"]
    steps = [r["disc_steps"] for r in ranks]
    assert len(steps[0]) == len(steps[1]) == 2
    for step0, step1 in zip(*steps):
        # One prompt per step, its group split in two halves.
        assert len(set(step0["ids"])) == 1 and step0["ids"] == step1["ids"] and len(step0["ids"]) == 2
        # Each process shows the prompt's expert as a positive; the policy negatives are the group's 3 samples.
        assert step0["kinds"].count("expert") == step1["kinds"].count("expert") == 1
        assert (step0["kinds"].count("policy"), step1["kinds"].count("policy")) == (2, 1)
    assert [r["step"] for r in read_metrics(out / "ddp") if "train_runtime" not in r] == [1, 2]


def test_verifree_groups_spanning_two_processes(repo_root, artifacts, tmp_path):
    """VeriFree's leave-one-out baseline is taken over each whole group: with 2 completions per process and groups
    of 4 every group is split between the processes, and both ranks end with the same policy."""
    out, dump = tmp_path / "runs", tmp_path / "dump"
    launch(
        repo_root,
        dump,
        "train.py",
        "experiment=tiny_verifree",
        "run_name=ddp",
        "dataset.num_train=8",
        "dataset.num_test=2",
        "training.per_device_batch_size=2",
        "sampling.num_generations=4",
        "sampling.max_completion_length=6",
        "training.max_steps=2",
        "training.save_steps=2",
        f"output_root={out}",
        f"artifacts_dir={artifacts}",
    )
    ranks = [json.loads((dump / f"rank{i}.json").read_text()) for i in (0, 1)]
    assert ranks[0]["num_processes"] == 2 and ranks[0]["policy"] == ranks[1]["policy"]
    rows = [r for r in read_metrics(out / "ddp") if "train_runtime" not in r]
    assert [r["step"] for r in rows] == [1, 2] and all("reward/answer_likelihood" in r for r in rows)
