"""Composing configs: the typed dataclasses as Hydra schemas, and ``compose`` outside ``@hydra.main``.

The schemas span every layer (datasets, models, the methods' sections), so this sits on top with the entry
scripts; :mod:`reasoning_irl.config` below it holds only validation, which every layer may use.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Optional

from omegaconf import DictConfig, OmegaConf

from reasoning_irl.config import ConfigError, config_dir, hydra_error_line

TRAINING_CONFIGS = ("sft", "grpo", "airl")
EVALUATION_CONFIGS = ("evaluate", "evaluate_irl")  # their dataset section defaults to the evaluated run's
PRIMARY_CONFIGS = (*TRAINING_CONFIGS, *EVALUATION_CONFIGS, "data_preview")
GROUPS = ("model", "reward_model", "dataset", "method")
SCHEMA_GROUP = "schema"
_registered: set[str] = set()


def schema_class(config_name: str) -> type:
    """The dataclass that ``configs/<config_name>.yaml`` is checked against: the one table of primary configs.
    Each is imported when asked for, so an evaluation or the data preview never waits for the training schemas'
    torch and transformers."""
    match config_name:
        case "sft":
            from reasoning_irl.training.config import SFTRunConfig as schema
        case "grpo":
            from reasoning_irl.training.config import GRPORunConfig as schema
        case "airl":
            from reasoning_irl.training.airl.config import AIRLRunConfig as schema
        case "evaluate":
            from reasoning_irl.evaluation.config import EvalConfig as schema
        case "evaluate_irl":
            from reasoning_irl.evaluation.config import IRLEvalConfig as schema
        case "data_preview":
            from reasoning_irl.data.preview import PreviewConfig as schema
        case _:
            raise KeyError(
                f"no schema for config {config_name!r}; the primary configs are {', '.join(PRIMARY_CONFIGS)}"
            )
    return schema


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
    import reasoning_irl.data  # noqa: F401  (registers the datasets)
    from reasoning_irl.data.base import DATASETS
    from reasoning_irl.models.config import ModelConfig

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

    names = [config_name] if config_name is not None else list(PRIMARY_CONFIGS)
    key = config_name or "*"
    if key in _registered:
        return
    store = ConfigStore.instance()
    for path, node in group_schemas(config_name).items():
        group, name = path.rsplit("/", 1)
        store.store(group=group, name=name, node=node)
    for name in names:
        if name in PRIMARY_CONFIGS:
            store.store(
                group=SCHEMA_GROUP,
                name=name,
                node=primary_node(schema_class(name), ("dataset",) if name in EVALUATION_CONFIGS else ()),
            )
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
    except (AttributeError, AssertionError) as exc:  # what OmegaConf raises for a key set inside a null section
        line = null_section_line(exc)
        if line is None:
            raise
        raise ConfigError(line) from None


def null_section_line(exc: BaseException) -> Optional[str]:
    """One line for an override that sets keys inside a section that is null in the composed config (e.g.
    ``reward_model.lora.r=8`` where the preset has ``lora: null``): OmegaConf cannot fill a null section from the
    command line, and fails with an error that does not name it. None when ``exc`` is something else.

    The override and the config are read from Hydra's frame that was applying the overrides."""
    import yaml

    frame = next(
        (tb.tb_frame for tb in _tracebacks(exc) if tb.tb_frame.f_code.co_name == "_apply_overrides_to_config"), None
    )
    override, cfg = (frame.f_locals.get("override"), frame.f_locals.get("cfg")) if frame else (None, None)
    if override is None or cfg is None:
        return None
    parts = str(override.key_or_group).split(".")
    null = next((i for i in range(1, len(parts) + 1) if OmegaConf.select(cfg, ".".join(parts[:i])) is None), None)
    if null is None:
        return None
    section = ".".join(parts[:null])
    example: Any = override.value()
    for part in reversed(parts):
        example = {part: example}
    return (
        f"{override.input_line}: {section} is null in this config, and the command line cannot set keys inside a "
        f"null section; set it in an experiment file instead (one that lists this preset in its defaults), e.g. "
        f"{yaml.safe_dump(example, default_flow_style=True, sort_keys=False).strip()}"
    )


def _tracebacks(exc: BaseException):
    tb = exc.__traceback__
    while tb is not None:
        yield tb
        tb = tb.tb_next
