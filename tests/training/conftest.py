"""Tiny-run fixtures: one tiny policy per test session, and config composers pointed at tmp folders."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from tiny_runs import GRPO_SMALL, SFT_SMALL, TEST_REWARD, digit_share_reward

from reasoning_irl.composition import compose
from reasoning_irl.models import ensure_tiny_model
from reasoning_irl.rewards import REWARDS


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """One intra-op thread: the tiny models gain nothing from two, and on a shared 2-core machine two
    spinning OpenMP threads per process slowed runs 20-50x whenever another process was busy."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def artifacts(tmp_path_factory) -> Path:
    """A session folder holding the tiny Qwen2 policy (built once), as ``artifacts_dir``."""
    root = tmp_path_factory.mktemp("artifacts")
    ensure_tiny_model(root / "tiny-qwen2-policy", arch="qwen2", preset="policy")
    return root


@pytest.fixture
def compose_run(artifacts, tmp_path) -> Callable:
    """``compose_run("sft", "training.max_steps=2", ...)``: a tiny-run config writing under ``tmp_path/runs``."""

    def make(method: str, *overrides: str, output_root: Path | None = None):
        small = SFT_SMALL if method == "sft" else GRPO_SMALL
        base = [
            f"experiment=tiny_{method}",
            f"output_root={output_root or tmp_path / 'runs'}",
            f"artifacts_dir={artifacts}",
            *small,
        ]
        return compose(method, base + list(overrides))

    return make


@pytest.fixture(autouse=True)
def lend_test_reward(monkeypatch):
    """Make TEST_REWARD resolvable by name during each test, without leaving it in the shared registry."""
    real_get, reward = REWARDS.get, digit_share_reward()
    monkeypatch.setattr(REWARDS, "get", lambda name: reward if name == TEST_REWARD else real_get(name))
