"""Resume survives what a killed run leaves in metrics.jsonl: a torn last line is dropped (said once); other damage is refused."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import pytest
from tiny_runs import read_metrics

from reasoning_irl.cli import CONFIG_ERROR_EXIT, run_entry
from reasoning_irl.training.sft import run_sft

TORN = '{"step": 3, "loss": 5.91, "grad_no'  # a run killed while appending step 3's row: no closing brace, no newline


def test_a_torn_last_line_is_dropped_and_the_run_resumes(compose_run, caplog):
    run_dir = run_sft(compose_run("sft", "training.max_steps=2", "training.save_steps=1"))
    with open(run_dir / "metrics.jsonl", "a", encoding="utf-8") as handle:
        handle.write(TORN)
    with caplog.at_level(logging.WARNING, logger="reasoning_irl.training.callbacks"):
        run_sft(compose_run("sft", "training.max_steps=3", "training.save_steps=1", "training.resume_from=auto"))
    said = [r.getMessage() for r in caplog.records if "torn" in r.getMessage()]
    assert len(said) == 1 and "metrics.jsonl" in said[0]
    rows = read_metrics(run_dir)  # every line parses again
    assert [r["step"] for r in rows if "train_runtime" not in r] == [1, 2, 3]
    assert sum("train_runtime" in r for r in rows) == 1  # the interrupted call's summary row was dropped too


def test_damage_before_the_last_line_is_refused_in_one_line(compose_run, capsys):
    run_dir = run_sft(compose_run("sft", "training.max_steps=2", "training.save_steps=1"))
    metrics = run_dir / "metrics.jsonl"
    lines = metrics.read_text().splitlines()
    metrics.write_text("\n".join([lines[0], "garbage{", *lines[1:]]) + "\n")
    before = metrics.read_bytes()
    capsys.readouterr()
    with pytest.raises(SystemExit) as stopped:
        run_entry(
            run_sft, compose_run("sft", "training.max_steps=3", "training.save_steps=1", "training.resume_from=auto")
        )
    assert stopped.value.code == CONFIG_ERROR_EXIT
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert errors == [f"error: {metrics}: line 2 is not JSON (damaged); repair or remove it, then resume"], err[-2000:]
    assert metrics.read_bytes() == before  # nothing lost
    assert not (Path(run_dir) / "checkpoint-3").exists()


def test_a_fresh_run_moves_a_dead_runs_rows_aside(compose_run, caplog):
    cfg = compose_run("sft", "training.max_steps=2", "training.save_steps=10")
    first = run_sft(cfg)
    dead = [{"step": 0, "held_out/pass@1": 0.5}, {"step": 1, "loss": 9.0}]  # a run killed before any checkpoint
    (first / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in dead))
    for path in first.iterdir():  # keep only what that run would have left
        if path.name not in ("metrics.jsonl", ".hydra", "config.yaml"):
            shutil.rmtree(path) if path.is_dir() else path.unlink()
    with caplog.at_level(logging.WARNING, logger="reasoning_irl.training.callbacks"):
        run_sft(cfg)
    rows = read_metrics(first)
    assert all(r.get("loss") != 9.0 and "held_out/pass@1" not in r for r in rows)
    assert [r["step"] for r in rows if "train_runtime" not in r] == [1, 2]
    assert (first / "metrics.stale.jsonl").read_text().count("\n") == 2
    assert sum("metrics.stale.jsonl" in r.getMessage() for r in caplog.records) == 1
