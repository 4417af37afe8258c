"""Shared fixtures: the repository root and the real data sets beside the checkout; the helper modules of the
evaluation and training tests (eval_helpers, tiny_runs) importable from every test folder, so that any one test
file runs on its own."""

from __future__ import annotations

import gc
import os
import sys
from pathlib import Path

import pytest

# One OpenMP/MKL thread in every test process and in every process a test starts (entry scripts, the demo, launched
# runs), set before torch loads: `make test` runs two workers on two cores, and a child that spins a second thread
# beside the other worker's test slows both (2-core AMD EPYC: the suite took 494 s with the default count, 471 s
# with one).
for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"
# The modules that hold most of the suite's time (end-to-end runs: seconds on a 2-core machine), started first and
# longest first: `make test` hands whole files to its two workers in collection order (--no-loadscope-reorder), so
# the short files fill in behind them and both workers end together instead of one waiting on a late long file.
START_FIRST = (
    "training/test_demo_claims.py",
    "test_demo.py",
    "training/test_distributed.py",
    "test_real_model.py",
    "test_gpu_smoke.py",
    "test_config_defaults.py",
    "training/test_airl_run.py",
)
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


def pytest_collection_finish(session: pytest.Session) -> None:
    """Take what collection loaded (torch, transformers, TRL, every test module: some 500,000 objects, none freed
    before the process ends) out of the garbage collector's sight: each full collection otherwise walks them all,
    0.3 s apiece on a 2-core Xeon, and the tests' runs set off dozens (14 s of 90 s in the training and evaluation
    tests). The tests' own objects are still collected as before."""
    gc.collect()
    gc.freeze()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> int:
        where = Path(str(item.path)).relative_to(Path(__file__).parent).as_posix()
        return START_FIRST.index(where) if where in START_FIRST else len(START_FIRST)

    items.sort(key=rank)  # stable: every other file keeps its place
