"""The entry scripts' shared start (reasoning_irl/cli.py): a job that does not log to wandb leaves it unimported."""

from __future__ import annotations

import importlib.util
import sys

import pytest

from reasoning_irl.cli import skip_unused_wandb
from reasoning_irl.composition import compose


def fresh_modules(monkeypatch) -> dict:
    """A copy of sys.modules without wandb for the function to change; the test process's own stays as it was
    (nothing may be imported while the copy is in place)."""
    modules = {name: module for name, module in sys.modules.items() if name != "wandb"}
    monkeypatch.setattr(sys, "modules", modules)
    return modules


@pytest.mark.parametrize(
    "config_name, overrides, left_out",
    [
        ("sft", ["experiment=tiny_sft"], True),  # logging.report_to's default: none
        ("grpo", ["experiment=tiny_grpo", "logging.report_to=tensorboard"], True),
        ("airl", ["experiment=tiny_airl", "logging.report_to=wandb"], False),
        ("evaluate", [], True),  # evaluation never logs to a tracker
    ],
)
def test_wandb_is_left_out_unless_the_job_logs_to_it(monkeypatch, config_name, overrides, left_out):
    cfg = compose(config_name, overrides)
    modules = fresh_modules(monkeypatch)
    skip_unused_wandb(config_name, cfg)
    assert ("wandb" in modules and modules["wandb"] is None) == left_out


def test_an_imported_wandb_is_kept(monkeypatch):
    cfg = compose("sft", ["experiment=tiny_sft"])
    modules = fresh_modules(monkeypatch)
    modules["wandb"] = marker = object()
    skip_unused_wandb("sft", cfg)
    assert modules["wandb"] is marker


def test_a_module_marked_absent_is_reported_missing(monkeypatch):
    """What the mark relies on: find_spec, which transformers, TRL and accelerate ask, then says not installed."""
    monkeypatch.setitem(sys.modules, "wandb", None)
    assert importlib.util.find_spec("wandb") is None
    with pytest.raises(ImportError):
        import wandb  # noqa: F401
