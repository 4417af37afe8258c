"""The tiny-run fixtures of tests/training (one tiny policy, one torch thread, the test reward) and the evaluation
tests' helpers, shared here."""

from __future__ import annotations

import importlib.util
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
TRAINING_TESTS = TESTS / "training"
_spec = importlib.util.spec_from_file_location("training_fixtures", TRAINING_TESTS / "conftest.py")
_fixtures = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_fixtures)

artifacts = _fixtures.artifacts
compose_run = _fixtures.compose_run
lend_test_reward = _fixtures.lend_test_reward
one_torch_thread = _fixtures.one_torch_thread
