"""The shared body of the Hydra entry scripts: run, and turn config errors into one line and exit code 2."""

from __future__ import annotations

import logging
import sys
from typing import Any, Callable, Optional

from reasoning_irl.config import ConfigError, compose

# Hydra options under which a plain compose of the overrides is not the job's config (other config,
# sweeps, help pages); Hydra handles those itself.
_HYDRA_ONLY = {"-m", "--multirun", "-cn", "--config-name", "-cp", "--config-path", "-cd", "--config-dir",
               "-h", "--help", "--hydra-help", "-i", "--info", "-sc", "--shell-completion"}


def fail(message: str) -> None:
    print(f"error: {message}", file=sys.stderr)
    sys.exit(2)


def check_overrides(config_name: str, argv: Optional[list[str]] = None) -> None:
    """Compose once before Hydra runs, so a bad override (unknown key, missing preset) ends in one line
    and exit code 2 instead of Hydra's multi-line report."""
    argv = sys.argv[1:] if argv is None else argv
    if any(arg.split("=", 1)[0] in _HYDRA_ONLY for arg in argv):
        return
    try:
        compose(config_name, [arg for arg in argv if "=" in arg and not arg.startswith("-")])
    except ConfigError as exc:
        fail(str(exc))


def run_entry(fn: Callable[[Any], Any], cfg: Any) -> Any:
    logging.getLogger().setLevel(logging.INFO)
    try:
        result = fn(cfg)
    except ConfigError as exc:
        fail(str(exc))
    print(f"done: {result}")
    return result
