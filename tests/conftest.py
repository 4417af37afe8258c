"""Shared fixtures: the repository root and the real data sets beside the checkout."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data`` (GSM8K train/test, MedQA test); the suite needs it beside the clone."""
    if not (SHARED_DATA / "gsm8k" / "test.jsonl").is_file():
        pytest.fail(f"real data sets not found at {SHARED_DATA}; the suite reads ../shared/data beside the clone")
    return SHARED_DATA
