"""Typed, validated configuration.

Every default lives in a dataclass (its field's default and doc string). :func:`register_schemas` stores those
dataclasses in Hydra's ConfigStore under ``schema/``; each primary config and each config group option extends its
schema in its defaults list, so the composed config holds every key (``training.eval_steps=10`` needs no ``+``)
and the YAML files state only what differs. After composition every section is checked against its dataclass again
(:func:`validate`), so an unknown or mistyped key fails with one clear line instead of being silently ignored.
See docs/configuration.md.
"""

from __future__ import annotations

import dataclasses
import os
import re
from pathlib import Path
from typing import Any, Optional, TypeVar

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
PRIMARY_SCHEMAS = {
    "sft": ("reasoning_irl.training.sft", "SFTRunConfig"),
    "grpo": ("reasoning_irl.training.grpo", "GRPORunConfig"),
    "airl": ("reasoning_irl.training.airl.config", "AIRLRunConfig"),
    "evaluate": ("reasoning_irl.evaluation.config", "EvalConfig"),
    "evaluate_irl": ("reasoning_irl.evaluation.config", "IRLEvalConfig"),
    "data_preview": ("reasoning_irl.data.__main__", "PreviewConfig"),
}
TRAINING_CONFIGS = ("sft", "grpo", "airl")
EVALUATION_CONFIGS = ("evaluate", "evaluate_irl")  # their dataset section defaults to the evaluated run's
GROUPS = ("model", "reward_model", "dataset", "method")
SCHEMA_GROUP = "schema"
_registered: set[str] = set()


def schema_class(config_name: str) -> type:
    import importlib

    module, name = PRIMARY_SCHEMAS[config_name]
    return getattr(importlib.import_module(module), name)


def primary_node(schema: type, open_sections: tuple[str, ...] = ()) -> dict[str, Any]:
    """The schema of a primary config: the dataclass's fields less its config groups (typed by their options);
    ``open_sections`` become open mappings."""
    defaults = schema()
    node: dict[str, Any] = {}
    for f in dataclasses.fields(schema):
        if f.name in GROUPS:
            continue
        value = getattr(defaults, f.name)
        node[f.name] = OmegaConf.structured(value) if dataclasses.is_dataclass(value) else value
    if "dataset" in open_sections:
        # Until dataset=<name> selects a schema, dataset.<key>=<value> overrides go on top of a section read later
        # (an evaluation's run config.yaml) and are validated there, against the dataset's own schema.
        dataset = OmegaConf.create({})
        OmegaConf.set_struct(dataset, False)
        node["dataset"] = dataset
    return node


def group_schemas(config_name: Optional[str] = None) -> dict[str, Any]:
    """``{"schema/<group>/<option>": dataclass instance}``: what the group options of ``configs/`` extend.
    The method and reward-model schemas (torch/TRL imports) only for a training config or when none is named."""
    from reasoning_irl.data.base import DATASETS
    from reasoning_irl.models.config import ModelConfig
    import reasoning_irl.data  # noqa: F401  (registers the datasets)

    nodes: dict[str, Any] = {f"{SCHEMA_GROUP}/model/policy": ModelConfig()}
    nodes.update({f"{SCHEMA_GROUP}/dataset/{name}": DATASETS.get(name).config() for name in DATASETS.names()})
    if config_name is None or config_name in TRAINING_CONFIGS:
        for method in TRAINING_CONFIGS:
            nodes[f"{SCHEMA_GROUP}/method/{method}"] = schema_class(method)().method
        nodes[f"{SCHEMA_GROUP}/model/reward"] = schema_class("airl")().reward_model
    return nodes


def register_schemas(config_name: Optional[str] = None) -> None:
    """Store the schemas that ``configs/<config_name>.yaml`` (every primary config when None) composes from in
    Hydra's ConfigStore: ``schema/<config_name>`` (the primary's top level) and ``schema/<group>/<option>``.
    Idempotent; call it before Hydra composes (:func:`compose` and the entry scripts do)."""
    from hydra.core.config_store import ConfigStore

    names = [config_name] if config_name is not None else list(PRIMARY_SCHEMAS)
    key = config_name or "*"
    if key in _registered:
        return
    store = ConfigStore.instance()
    for path, node in group_schemas(config_name).items():
        group, name = path.rsplit("/", 1)
        store.store(group=group, name=name, node=node)
    for name in names:
        if name in PRIMARY_SCHEMAS:
            store.store(group=SCHEMA_GROUP, name=name,
                        node=primary_node(schema_class(name), ("dataset",) if name in EVALUATION_CONFIGS else ()))
    _registered.add(key)


def compose(config_name: str, overrides: list[str]) -> DictConfig:
    """Compose ``configs/<config_name>.yaml`` with command-line style overrides, outside ``@hydra.main``."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.errors import HydraException

    register_schemas(config_name)
    try:
        with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
            return hydra_compose(config_name=config_name, overrides=overrides)
    except HydraException as exc:
        raise ConfigError(hydra_error_line(exc)) from None


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
