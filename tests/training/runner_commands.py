"""Running the runner scripts in the tests: a dry run's printed commands, their arguments, and whether each composes
with the real presets (tests/test_runner_scripts.py, tests/test_sweeps_runner.py)."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

from omegaconf import OmegaConf

from reasoning_irl.composition import compose
from reasoning_irl.config import validate
from reasoning_irl.training.airl.config import AIRLRunConfig
from reasoning_irl.training.config import GRPORunConfig, SFTRunConfig

SCRIPTS = Path(__file__).resolve().parents[2] / "runner_scripts"
BASH = shutil.which("bash")
CONFIG_OF = {
    "sft_train.py": ("sft", SFTRunConfig),
    "train.py": ("grpo", GRPORunConfig),
    "irl_train.py": ("airl", AIRLRunConfig),
    "evaluate.py": ("evaluate", None),
    "evaluate_irl.py": ("evaluate_irl", None),
}


def script(name: str, *args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [BASH, str(SCRIPTS / name), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "DRY_RUN": "1", "PYTHON": sys.executable, **env},
    )


def commands(out: str) -> list[list[str]]:
    return [shlex.split(line[2:]) for line in out.splitlines() if line.startswith("+ ") and "export" not in line]


def args_of(argv: list[str]) -> dict[str, str]:
    """The key=value arguments of a printed command."""
    return dict(a.split("=", 1) for a in argv[2:] if "=" in a)


def check_composes(argv: list[str]) -> None:
    """A printed Hydra command, as one job of its sweep: it must compose (and training ones validate)."""
    name, schema = CONFIG_OF[Path(argv[1]).name]
    overrides = [re.sub(r"^seed=choice\((\d+).*\)$", r"seed=\1", a) for a in argv[2:] if a != "-m"]
    cfg = compose(name, overrides)
    if schema is not None:
        resolved = OmegaConf.to_container(cfg, resolve=True)
        validate({k: v for k, v in resolved.items() if k != "hydra"}, schema, "config")
