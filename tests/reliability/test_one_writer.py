"""One run per folder: a training run folder, an evaluation output folder and a scoring output folder are claimed by
the process writing them (``<folder>/.lock``: pid, host, since); a second writer is refused in one line naming the
holder, a lock left by a dead process is taken over with one warning, and ``run_name`` is a name under
``output_root``, never a path out of it."""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
import textwrap
from contextlib import contextmanager
from pathlib import Path

import pytest
from eval_helpers import SMALL, compose_eval, eval_artifacts, one_thread  # noqa: F401  (fixtures)

from reasoning_irl.cli import check_overrides
from reasoning_irl.config import ConfigError
from reasoning_irl.evaluation.policy_eval import run_evaluate
from reasoning_irl.evaluation.reward_eval import run_evaluate_irl
from reasoning_irl.score import main as score_main
from reasoning_irl.training import sft
from reasoning_irl.training.setup import check_run, start_run

SINCE = "2025-01-02T03:04:05+00:00"


def _write_lock(folder: Path, pid: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    lock = folder / ".lock"
    lock.write_text(json.dumps({"pid": pid, "host": socket.gethostname(), "since": SINCE}) + "\n")
    return lock


@contextmanager
def held_by_a_live_process(folder: Path):
    """``folder`` claimed by another process of this host that still runs (its lock names a sleeping child)."""
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])
    try:
        yield _write_lock(folder, child.pid), child.pid
    finally:
        child.kill()
        child.wait()


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def _holder_named(message: str, pid: int) -> bool:
    return f"pid {pid} on {socket.gethostname()} since {SINCE}" in message and "\n" not in message


# --- training -----------------------------------------------------------------------------------------------------
def test_a_second_training_into_a_folder_in_use_is_refused_naming_the_holder(compose_run, tmp_path):
    cfg = compose_run("sft", "run_name=shared", "training.max_steps=1", "training.learning_rate=1e-4")
    run_dir = tmp_path / "runs" / "shared"
    with held_by_a_live_process(run_dir) as (lock, pid):
        before = lock.read_bytes()
        with pytest.raises(ConfigError) as refused:
            sft.run_sft(cfg)
        assert _holder_named(str(refused.value), pid), refused.value
        assert "choose another run_name" in str(refused.value)
        assert lock.read_bytes() == before  # the holder's claim untouched
        assert sorted(p.name for p in run_dir.iterdir()) == [".lock"]  # no config.yaml, no metrics, no checkpoint


def test_the_entry_script_refuses_before_hydra_writes_the_folder(artifacts, tmp_path, capsys):
    run_dir = tmp_path / "runs" / "shared"
    (run_dir / ".hydra").mkdir(parents=True)
    (run_dir / ".hydra" / "config.yaml").write_text("the first run's\n")
    argv = [
        "experiment=tiny_sft",
        f"output_root={tmp_path / 'runs'}",
        f"artifacts_dir={artifacts}",
        "run_name=shared",
        "training.learning_rate=1e-4",
    ]
    with held_by_a_live_process(run_dir) as (_, pid):
        with pytest.raises(SystemExit) as stopped:
            check_overrides("sft", argv)
    err = capsys.readouterr().err.strip().splitlines()
    assert stopped.value.code == 2 and len(err) == 1 and err[0].startswith("error: ")
    assert _holder_named(err[0], pid), err
    assert (run_dir / ".hydra" / "config.yaml").read_text() == "the first run's\n"


def test_the_claim_lasts_the_run_and_goes_with_it_on_success_and_on_error(compose_run, tmp_path, monkeypatch):
    run_dir = tmp_path / "runs" / "claimed"
    seen = []

    def failing_load(*args, **kwargs):  # the first thing after start_run: the run holds its folder by now
        seen.append(json.loads((run_dir / ".lock").read_text()) if (run_dir / ".lock").is_file() else None)
        raise ConfigError("split 'train' is empty")

    with monkeypatch.context() as patched:
        patched.setattr(sft, "load_split", failing_load)
        with pytest.raises(ConfigError, match="is empty"):
            sft.run_sft(compose_run("sft", "run_name=claimed", "training.max_steps=1"))
    assert seen and seen[0] is not None, "the run wrote into its folder without claiming it"
    assert seen[0]["pid"] == os.getpid() and seen[0]["host"] == socket.gethostname()
    assert not (run_dir / ".lock").exists()  # released on the error
    sft.run_sft(compose_run("sft", "run_name=claimed", "training.max_steps=1"))
    assert (run_dir / "final").is_dir() and not (run_dir / ".lock").exists()  # released at the end
    _claim_in_a_child(run_dir)  # and another process can claim it now


def _claim_in_a_child(folder: Path) -> None:
    script = textwrap.dedent(
        f"""
        from reasoning_irl.folder_lock import claim_folder
        claim_folder({str(folder)!r}, "hint").release()
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-1000:]


def test_replicas_of_a_multi_process_run_do_not_refuse_their_main_process(compose_run, tmp_path, monkeypatch):
    run_dir = tmp_path / "runs" / "ddp"
    cfg = compose_run("sft", "run_name=ddp", "training.max_steps=1")
    with held_by_a_live_process(run_dir) as (lock, _):  # the main process (rank 0) holds the folder
        before = lock.read_bytes()
        monkeypatch.setenv("RANK", "1")
        start_run(cfg, sft.SFTRunConfig, "sft")  # rank 1 checks and goes on; it never claims
        assert lock.read_bytes() == before
        monkeypatch.setenv("RANK", "0")
        with pytest.raises(ConfigError, match="is in use by pid"):
            check_run(cfg, sft.SFTRunConfig, "sft")


def test_a_lock_left_by_a_dead_process_is_taken_over_with_one_warning(compose_run, tmp_path, caplog):
    run_dir = tmp_path / "runs" / "crashed"
    lock = _write_lock(run_dir, _dead_pid())
    with caplog.at_level(logging.WARNING, logger="reasoning_irl.folder_lock"):
        sft.run_sft(compose_run("sft", "run_name=crashed", "training.max_steps=1"))
    said = [r.getMessage() for r in caplog.records if "took over" in r.getMessage()]
    assert len(said) == 1 and str(run_dir) in said[0], caplog.text
    assert (run_dir / "final").is_dir() and not lock.exists()


# --- run_name is a name ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "run_name, expected", [("../../escaped", "'..'"), ("a/../../escaped", "'..'"), ("/absolute_run", "is a path")]
)
@pytest.mark.parametrize("multirun", [False, True])
def test_a_run_name_that_leaves_output_root_is_refused_before_any_folder(
    artifacts, tmp_path, capsys, run_name, expected, multirun
):
    root = tmp_path / "deep" / "runs"
    argv = ["-m"] * multirun + [
        "experiment=tiny_sft",
        f"output_root={root}",
        f"artifacts_dir={artifacts}",
        f"run_name={run_name}",
    ]
    with pytest.raises(SystemExit) as stopped:
        check_overrides("sft", argv)
    err = capsys.readouterr().err.strip().splitlines()
    assert stopped.value.code == 2 and len(err) == 1 and expected in err[0], err
    assert not (tmp_path / "escaped").exists() and not (tmp_path / "deep").exists()


def test_nested_sweep_names_stay_names(compose_run, tmp_path):
    cfg = compose_run("sft", "run_name='sweep/method.max_length=128,seed=1'", "training.max_steps=1")
    run = check_run(cfg, sft.SFTRunConfig, "sft")
    assert run.run_dir == tmp_path / "runs" / "sweep" / "method.max_length=128,seed=1"
    outside = tmp_path / "outside"
    outside.mkdir()
    (tmp_path / "runs").mkdir()
    (tmp_path / "runs" / "link").symlink_to(outside)
    with pytest.raises(ConfigError, match="not a folder under output_root"):
        check_run(compose_run("sft", "run_name=link/x"), sft.SFTRunConfig, "sft")


# --- evaluation and scoring -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["evaluate", "evaluate_irl"])
def test_a_second_evaluation_into_a_folder_in_use_is_refused_even_with_overwrite(eval_artifacts, tmp_path, kind):
    out = tmp_path / "ev"
    extra = ["num_problems=1", "sampling.greedy=false", *SMALL] if kind == "evaluate" else ["num_problems=1"]
    cfg = compose_eval(kind, eval_artifacts, out, f"reward_model_path={eval_artifacts['rm']}", "overwrite=true", *extra)
    run = run_evaluate if kind == "evaluate" else run_evaluate_irl
    with held_by_a_live_process(out) as (lock, pid):
        with pytest.raises(ConfigError) as refused:
            run(cfg)
        assert _holder_named(str(refused.value), pid) and "output_dir" in str(refused.value), refused.value
        assert sorted(p.name for p in out.iterdir()) == [".lock"]


def test_scoring_into_a_folder_in_use_is_refused_and_a_stale_lock_is_taken_over(eval_artifacts, tmp_path, capsys):
    rows = tmp_path / "rows.jsonl"
    rows.write_text('{"question": "What is 2 + 3?", "answer": "2 + 3 = 5\\nThe answer is 5"}\n')
    out = tmp_path / "scored"
    args = [f"reward_model_path={eval_artifacts['rm']}", f"input={rows}", f"output={out}", "overwrite=true"]
    with held_by_a_live_process(out) as (_, pid):
        with pytest.raises(SystemExit) as stopped:
            score_main(args)
        err = capsys.readouterr().err.strip().splitlines()
        assert stopped.value.code == 2 and len(err) == 1 and _holder_named(err[0], pid), err
        assert sorted(p.name for p in out.iterdir()) == [".lock"]
    _write_lock(out, _dead_pid())  # the holder was killed: its lock stays behind
    assert score_main(args[:-1]) == 0  # taken over (an empty folder but for a stale lock needs no overwrite)
    assert sorted(p.name for p in out.iterdir()) == ["scores.jsonl", "tokens.html"]
