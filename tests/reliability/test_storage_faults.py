"""A full disk or an output folder that cannot be written ends a run or an evaluation in one line naming the folder;
a checkpoint that could not be written is never published, and the last good one stays as it was.

The faults are simulated at the OS-level call (the tests run as root, where a chmod'ed folder stays writable):
``torch.save`` and ``os.open`` raise the OS error, and a results file is written through ``/dev/full``."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import pytest
import torch
from eval_helpers import SMALL, compose_eval, eval_artifacts, one_thread  # noqa: F401  (fixtures)

from reasoning_irl.cli import CONFIG_ERROR_EXIT, check_overrides, run_entry
from reasoning_irl.config import ConfigError
from reasoning_irl.runs import check_checkpoint, checkpoints
from reasoning_irl.training.setup import check_run
from reasoning_irl.training.sft import SFTRunConfig, run_sft


def one_error_line(capsys, run, cfg) -> str:
    capsys.readouterr()
    with pytest.raises(SystemExit) as stopped:
        run_entry(run, cfg)
    assert stopped.value.code == CONFIG_ERROR_EXIT
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in err, err[-2000:]
    return errors[0]


# How the write of checkpoint-2 fails: an OSError, or torch's archive writer, which says nothing of the disk.
FULL_DISK = {
    "os-error": (OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)), "No space left on device", None),
    "torch-writer": (
        RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 576 vs 534"),
        "under 1 MiB free",
        0,
    ),
}


@pytest.mark.parametrize("case", sorted(FULL_DISK))
def test_a_full_disk_while_checkpointing_keeps_the_last_good_checkpoint(case, compose_run, capsys, monkeypatch):
    error, cause, free = FULL_DISK[case]
    real_save = torch.save

    def full_at_checkpoint_2(obj, f, *args, **kwargs):
        if "checkpoint-2" in str(f):
            raise error
        return real_save(obj, f, *args, **kwargs)

    monkeypatch.setattr(torch, "save", full_at_checkpoint_2)
    if free is not None:
        monkeypatch.setattr("reasoning_irl.runs.free_bytes", lambda folder: free, raising=False)
    cfg = compose_run("sft", "training.max_steps=3", "training.save_steps=1")
    run_dir = Path(cfg.output_root) / cfg.run_name
    line = one_error_line(capsys, run_sft, cfg)
    assert line == (
        f"error: {run_dir}: disk full ({cause}); free space on it, then resume with training.resume_from=auto: "
        f"checkpoint-2 was not published; the last good checkpoint {run_dir / 'checkpoint-1'} is intact"
    )
    assert checkpoints(run_dir) == [run_dir / "checkpoint-1"] and not (run_dir / ".staging").exists()
    fingerprint = json.loads((run_dir / "checkpoint-1" / "run_info.json").read_text())["fingerprint"]
    check_checkpoint(run_dir / "checkpoint-1", fingerprint)
    if case == "os-error":  # with space again, the run resumes from it
        monkeypatch.undo()
        run_sft(compose_run("sft", "training.max_steps=3", "training.save_steps=1", "training.resume_from=auto"))
        assert (run_dir / "final").is_dir() and checkpoints(run_dir)[-1].name == "checkpoint-3"


def test_a_full_disk_while_writing_evaluation_results_is_one_line(eval_artifacts, tmp_path, capsys, monkeypatch):
    from reasoning_irl.evaluation.policy_eval import run_evaluate

    out = tmp_path / "ev"
    real_mkstemp = __import__("tempfile").mkstemp

    def onto_dev_full(*args, **kwargs):
        """The temporary file of a result written into ``out`` is created, but its writes go to /dev/full."""
        fd, name = real_mkstemp(*args, **kwargs)
        if Path(kwargs.get("dir", "")) == out:
            full = os.open("/dev/full", os.O_WRONLY)
            os.dup2(full, fd)
            os.close(full)
        return fd, name

    monkeypatch.setattr("reasoning_irl.runs.tempfile.mkstemp", onto_dev_full)
    cfg = compose_eval("evaluate", eval_artifacts, out, "num_problems=1", "sampling.greedy=false", *SMALL)
    line = one_error_line(capsys, run_evaluate, cfg)
    assert line.startswith(f"error: {out}: disk full (No space left on device); free space on it, then run again: ")
    assert line.endswith(" was not written")
    assert not out.exists() or not [p.name for p in out.iterdir()]  # no partial temporary file left behind


@pytest.fixture(params=[errno.EROFS, errno.EACCES], ids=["read-only-file-system", "permission-denied"])
def unwritable(request, tmp_path, monkeypatch) -> tuple[Path, str]:
    """``tmp_path/ro``: every os.open that would create or write a file under it fails with the OS error."""
    folder, code = tmp_path / "ro", request.param
    folder.mkdir()
    real_open = os.open

    def refusing(path, flags, *args, **kwargs):
        if flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT) and Path(os.fsdecode(path)).is_relative_to(folder):
            raise OSError(code, os.strerror(code), os.fsdecode(path))
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", refusing)
    return folder, os.strerror(code)


def test_an_unwritable_output_root_is_refused_before_training(unwritable, compose_run):
    folder, cause = unwritable
    with pytest.raises(ConfigError) as refused:
        check_run(compose_run("sft", output_root=folder), SFTRunConfig, "sft")
    assert str(refused.value) == (
        f"{folder}: read-only / not writable ({cause}); make it writable, or choose another output_root"
    )
    assert not list(folder.iterdir())


def test_an_unwritable_evaluation_folder_is_refused_before_hydra(unwritable, tmp_path, capsys):
    folder, cause = unwritable
    policy = tmp_path / "myrun" / "final"
    policy.mkdir(parents=True)
    with pytest.raises(SystemExit) as stopped:
        check_overrides("evaluate", [f"output_root={folder}", f"policy={policy}"])
    assert stopped.value.code == CONFIG_ERROR_EXIT
    assert capsys.readouterr().err == (
        f"error: {folder}: read-only / not writable ({cause}); make it writable, or choose another output_dir\n"
    )
    assert not list(folder.iterdir())


@pytest.mark.parametrize(
    ("error", "line"),
    [
        (
            OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), "runs/x/wandb/run.wandb"),
            "error: runs/x/wandb/run.wandb: disk full (No space left on device); free space there or make it "
            "writable, then run again",
        ),
        (  # what the tokenizers library raises when it saves onto a full disk
            Exception("No space left on device (os error 28)"),
            "error: the output folder: disk full (No space left on device (os error 28)); free space there or make "
            "it writable, then run again",
        ),
    ],
    ids=["os-error", "library-error"],
)
def test_any_other_writer_on_a_full_disk_ends_in_one_line(error, line, capsys):
    from omegaconf import OmegaConf

    def writes_onto_a_full_disk(cfg):
        raise error

    assert one_error_line(capsys, writes_onto_a_full_disk, OmegaConf.create({})) == line
