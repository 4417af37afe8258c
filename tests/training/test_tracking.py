"""logging.report_to=wandb works offline without an API key or login; the env is set by our code."""

from __future__ import annotations

import os
import time

import pytest
from tiny_runs import step_rows

from reasoning_irl.training.config import LoggingConfig
from reasoning_irl.training.setup import configure_tracking
from reasoning_irl.training.sft import run_sft

WANDB_VARS = ("WANDB_MODE", "WANDB_API_KEY", "WANDB_PROJECT", "WANDB_ENTITY", "WANDB_DIR")


@pytest.fixture
def clean_wandb_env(monkeypatch):
    """No wandb variables; whatever the code under test sets is undone afterwards."""
    for name in WANDB_VARS:
        monkeypatch.setenv(name, "x")  # recorded first, so the original state is restored at teardown
        monkeypatch.delenv(name)
    return monkeypatch


def test_configure_tracking_goes_offline_without_a_key(clean_wandb_env):
    configure_tracking(LoggingConfig(report_to="wandb", project="proj", entity=None), "run")
    assert os.environ["WANDB_MODE"] == "offline"
    assert os.environ["WANDB_PROJECT"] == "proj"
    assert "WANDB_ENTITY" not in os.environ


def test_configure_tracking_respects_the_environment(clean_wandb_env):
    clean_wandb_env.setenv("WANDB_API_KEY", "k")
    configure_tracking(LoggingConfig(report_to="wandb", entity="team"), "run")
    assert "WANDB_MODE" not in os.environ  # a key means online, as the user set it up
    assert os.environ["WANDB_ENTITY"] == "team"
    clean_wandb_env.delenv("WANDB_API_KEY")
    clean_wandb_env.setenv("WANDB_MODE", "disabled")
    configure_tracking(LoggingConfig(report_to="wandb"), "run")
    assert os.environ["WANDB_MODE"] == "disabled"


def test_configure_tracking_leaves_other_trackers_alone(clean_wandb_env):
    configure_tracking(LoggingConfig(report_to="none"), "run")
    assert not any(name in os.environ for name in WANDB_VARS)


def test_one_step_wandb_run_offline(compose_run, clean_wandb_env, tmp_path):
    clean_wandb_env.setenv("WANDB_DIR", str(tmp_path / "wandb"))
    clean_wandb_env.setenv("WANDB_SILENT", "true")
    (tmp_path / "wandb").mkdir()
    import wandb

    start = time.monotonic()
    try:
        run_dir = run_sft(compose_run("sft", "training.max_steps=1", "logging.report_to=wandb"))
    finally:
        wandb.finish()  # the Trainer leaves the run open; later tests must not log into it
    assert time.monotonic() - start < 60
    assert os.environ["WANDB_MODE"] == "offline"
    assert [r["step"] for r in step_rows(run_dir)] == [1]
    offline_runs = list((tmp_path / "wandb").rglob("offline-run-*"))
    assert offline_runs, "wandb wrote no offline run"


def test_missing_tracker_package_is_one_config_error(clean_wandb_env):
    import importlib.util

    from reasoning_irl.config import ConfigError

    real = importlib.util.find_spec
    clean_wandb_env.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name.startswith("tensorboard") else real(name, *a)
    )
    with pytest.raises(ConfigError, match="logging.report_to=tensorboard needs the tensorboard package"):
        configure_tracking(LoggingConfig(report_to="tensorboard"), "run")
