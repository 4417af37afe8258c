"""Typed, validated configuration.

Every default lives in a dataclass (its field's default and doc string);
:mod:`reasoning_irl.composition` makes Hydra compose from them, so the YAML files state only what differs.
After composition every section is checked against its dataclass again (:func:`validate`), so an unknown or
mistyped key fails with one clear line instead of being silently ignored. See docs/configuration.md.
"""

from __future__ import annotations

import dataclasses
import os
import re
from pathlib import Path
from typing import Any, TypeVar

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException, ValidationError

T = TypeVar("T")

CONFIG_DIR_ENV = "REASONING_IRL_CONFIG_DIR"


class ConfigError(ValueError):
    """A configuration problem, reported as a single human-readable line."""


def validate(section: Any, schema: type[T], where: str) -> T:
    """Merge ``section`` (a DictConfig, dict or None) onto ``schema`` and return a typed instance.

    ``where`` names the section in error messages (e.g. ``"dataset"``), so a bad key reads
    ``dataset.num_trian: unknown key (valid keys: ...)``.
    """
    base = OmegaConf.structured(schema)
    OmegaConf.set_struct(base, True)
    if section is None:
        section = {}
    if isinstance(section, DictConfig):
        section = OmegaConf.to_container(section, resolve=True)
    if not isinstance(section, dict):
        raise ConfigError(f"{where}: expected a mapping, got {type(section).__name__}")
    valid = [f.name for f in dataclasses.fields(schema)]
    for key in section:
        if key not in valid:
            raise ConfigError(f"{where}.{key}: unknown key (valid keys: {', '.join(valid)})")
    try:
        merged = OmegaConf.merge(base, section)
        obj = OmegaConf.to_object(merged)
    except OmegaConfBaseException as exc:
        key = getattr(exc, "full_key", None) or "?"
        msg = str(exc).splitlines()[0]
        raise ConfigError(f"{where}.{key}: {msg}") from None
    run_checks(obj)
    return obj  # type: ignore[return-value]


def run_checks(obj: Any) -> None:
    """Call ``check()`` on a dataclass and on every dataclass nested in it (innermost first)."""
    if not dataclasses.is_dataclass(obj):
        return
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        for item in value if isinstance(value, list) else [value]:
            run_checks(item)
    check = getattr(obj, "check", None)
    if callable(check):
        check()


def config_dir() -> Path:
    """The ``configs/`` folder: ``$REASONING_IRL_CONFIG_DIR`` or the one beside ``src/`` in a clone."""
    env = os.environ.get(CONFIG_DIR_ENV)
    candidates = [Path(env)] if env else []
    candidates.append(Path(__file__).resolve().parents[2] / "configs")
    for path in candidates:
        if path.is_dir():
            return path
    raise ConfigError(
        f"cannot find the configs/ folder (looked in {', '.join(map(str, candidates))}); "
        f"set {CONFIG_DIR_ENV} to its path"
    )


# Primary config -> its dataclass, imported only when that config is composed (the training schemas pull in
# torch/TRL). Their fields named in GROUPS are config groups: each group option extends its own schema.
def hydra_error_line(exc: BaseException) -> str:
    """Hydra's multi-line composition errors, as one line that names the key or option at fault."""
    text = str(exc)
    cause = exc.__cause__
    # A key that no schema or YAML has: "not in struct" (plain node) or "Key 'x' not in 'TrainingConfig'" (schema).
    if cause is not None and re.search(r"not in struct|^Key '[^']*' not in '", str(cause)):
        key = getattr(cause, "full_key", None) or text.split("'")[1]
        return f"{key}: unknown config key"
    # A value of the wrong type for its schema field, as validate() words it.
    if isinstance(cause, ValidationError) and getattr(cause, "full_key", None):
        return f"{cause.full_key}: {str(cause).splitlines()[0]}"
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if "Available options" in text:
        start = next(i for i, line in enumerate(lines) if line.startswith("Available options"))
        options = [line for line in lines[start + 1 :] if not line.startswith(("Config search path", "provider="))]
        return f"{lines[0]}; available: {', '.join(options)}"
    return "; ".join(line for line in lines[:2] if not line.startswith("See https"))
