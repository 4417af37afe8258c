"""The shared body of the Hydra entry scripts: run, and turn config errors into one line and exit code 2."""

from __future__ import annotations

import logging
import sys
from typing import Any, Callable

from reasoning_irl.config import ConfigError


def run_entry(fn: Callable[[Any], Any], cfg: Any) -> Any:
    logging.getLogger().setLevel(logging.INFO)
    try:
        result = fn(cfg)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    print(f"done: {result}")
    return result
