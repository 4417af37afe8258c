"""Shared fixtures: the repository root and the real data sets beside the checkout; the helper modules of the
evaluation and training tests (eval_helpers, tiny_runs) importable from every test folder, so that any one test
file runs on its own."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"
for _helpers in (Path(__file__).parent / "evaluation", Path(__file__).parent / "training"):
    if str(_helpers) not in sys.path:
        sys.path.insert(0, str(_helpers))


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data`` (GSM8K train/test, MedQA test); the suite needs it beside the clone."""
    if not (SHARED_DATA / "gsm8k" / "test.jsonl").is_file():
        pytest.fail(f"real data sets not found at {SHARED_DATA}; the suite reads ../shared/data beside the clone")
    return SHARED_DATA
