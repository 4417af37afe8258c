"""No network call unless the user asked for the hub; wandb online without credentials is one line, before
any network use; wandb's own files go to the run folder."""

from __future__ import annotations

import os
import socket

import pytest
from eval_helpers import eval_artifacts, one_thread  # noqa: F401  (fixtures)
from tiny_runs import GRPO_SMALL, SFT_SMALL

from reasoning_irl.composition import compose
from reasoning_irl.config import ConfigError


@pytest.fixture
def no_network(monkeypatch):
    """Every attempt to resolve a name or open an internet connection is recorded and refused."""
    attempts: list[str] = []

    def refuse(what):
        def blocked(*args, **kwargs):
            attempts.append(f"{what}{args[:2]}")
            raise OSError(f"network blocked in this test: {what}")

        return blocked

    real_connect = socket.socket.connect

    def connect(sock, address):
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            return refuse("connect")(address)
        return real_connect(sock, address)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket, "create_connection", refuse("create_connection"))
    monkeypatch.setattr(socket, "getaddrinfo", refuse("getaddrinfo"))
    return attempts


@pytest.fixture
def user_environment(monkeypatch, tmp_path):
    """As on a user's machine: hub telemetry and hub access not switched off, not a CI run, no wandb setup."""
    import huggingface_hub.constants as hub

    for name in (
        "HF_HUB_DISABLE_TELEMETRY",
        "DISABLE_TELEMETRY",
        "HF_HUB_OFFLINE",
        "CI",
        "WANDB_API_KEY",
        "WANDB_MODE",
        "WANDB_DIR",
        "WANDB_PROJECT",
        "WANDB_ENTITY",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(hub, "HF_HUB_DISABLE_TELEMETRY", False)
    monkeypatch.setattr(hub, "HF_HUB_OFFLINE", False)
    home = tmp_path / "home"
    home.mkdir()
    for name, value in (("HOME", home), ("NETRC", home / ".netrc"), ("WANDB_CONFIG_DIR", home / ".config")):
        monkeypatch.setenv(name, str(value))
    monkeypatch.setenv("WANDB_SILENT", "true")
    return monkeypatch


@pytest.mark.parametrize("method", ["sft", "grpo"])
def test_tiny_training_opens_no_connection(method, eval_artifacts, tmp_path, user_environment, no_network):
    from reasoning_irl.training.grpo import run_grpo
    from reasoning_irl.training.sft import run_sft

    small = SFT_SMALL if method == "sft" else [*GRPO_SMALL, "method.rewards=[{name:tag_count,weight:1.0}]"]
    cfg = compose(
        method,
        [
            f"experiment=tiny_{method}",
            f"output_root={tmp_path / 'runs'}",
            f"artifacts_dir={eval_artifacts['root']}",
            "training.max_steps=2",
            *small,
        ],
    )
    run_dir = (run_sft if method == "sft" else run_grpo)(cfg)
    assert (run_dir / "final").is_dir()
    assert no_network == []


def test_wandb_online_without_credentials_is_one_line_before_any_network(tmp_path, user_environment, no_network):
    from reasoning_irl.training.sft import run_sft

    user_environment.setenv("WANDB_MODE", "online")
    cfg = compose("sft", ["experiment=tiny_sft", "logging.report_to=wandb", f"output_root={tmp_path / 'runs'}"])
    with pytest.raises(
        ConfigError,
        match=r"^logging.report_to=wandb is online but no wandb credentials were found: "
        r"run `wandb login`, or set WANDB_MODE=offline$",
    ):
        run_sft(cfg)
    assert no_network == [] and not (tmp_path / "runs").exists()
    (tmp_path / "home" / ".netrc").write_text("machine api.wandb.ai login user password k\n")
    from reasoning_irl.training.setup import wandb_key_known

    assert wandb_key_known()  # a `wandb login` (netrc) counts as credentials


def test_offline_wandb_writes_into_the_run_folder(eval_artifacts, tmp_path, user_environment):
    import wandb

    from reasoning_irl.training.sft import run_sft

    user_environment.chdir(tmp_path)
    wandb.teardown()  # wandb reads its environment once per process; an earlier test's setup must not linger
    cfg = compose(
        "sft",
        [
            "experiment=tiny_sft",
            f"output_root={tmp_path / 'runs'}",
            "logging.report_to=wandb",
            f"artifacts_dir={eval_artifacts['root']}",
            "training.max_steps=1",
            *SFT_SMALL,
        ],
    )
    try:
        run_dir = run_sft(cfg)
    finally:
        wandb.finish()  # the Trainer leaves the run open; later tests must not log into it
        wandb.teardown()  # nor reuse this test's settings (its folder)
    assert os.environ["WANDB_MODE"] == "offline"
    assert list((run_dir / "wandb").glob("offline-run-*")), "wandb wrote no offline run into the run folder"
    assert not (tmp_path / "wandb").exists()
