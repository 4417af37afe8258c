"""Each default lives in one place, its dataclass: no YAML under configs/ restates one, every key composes without
``+``, and docs/configuration.md names every field."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import pytest
import yaml
from omegaconf import OmegaConf
from preset_methods import preset_method

from reasoning_irl.composition import GROUPS, compose, register_schemas, schema_class
from reasoning_irl.config import CONFIG_DIR_ENV, config_dir

PRIMARIES = ("sft", "grpo", "airl", "evaluate", "evaluate_irl", "data_preview")


def _leaves(node, where=""):
    if isinstance(node, dict) and node:
        for key, value in node.items():
            yield from _leaves(value, f"{where}.{key}" if where else str(key))
    else:
        yield where, node


def _contexts(rel: str) -> list[tuple[str, list[str]]]:
    """Compositions that load the file configs/<rel>."""
    parts = Path(rel).with_suffix("").parts
    if len(parts) == 1:
        return [(parts[0], [])]
    group, option = parts
    if group == "base":
        return [(m, []) for m in ("sft", "grpo", "airl")]
    if group == "experiment":
        method = preset_method(option) or "sft"
        return [(method, [f"experiment={option}"])]
    if group == "recipe":  # the seed recipe, as the paper presets that add nothing over it load it
        return [(option.removeprefix("seed_"), [f"experiment=gsm8k_qwen2.5-3b_{option.removeprefix('seed_')}"])]
    if group == "ablation":
        return [("airl", [f"experiment={p}", f"+ablation={option}"]) for p in ("tiny_airl", "gsm8k_qwen2.5-3b_airl")]
    primary = {"method": option, "reward_model": "airl", "model": "sft", "dataset": "data_preview"}[group]
    return [(primary, [f"{group}={option}"])]


def _yaml_files() -> list[str]:
    root = config_dir()
    # configs/accelerate holds accelerate launch files and configs/hydra Hydra's own plugin settings: no schema
    return sorted(str(p.relative_to(root)) for p in root.rglob("*.yaml") if not {"hydra", "accelerate"} & set(p.parts))


@pytest.fixture(scope="module")
def config_copy(tmp_path_factory):
    copy = tmp_path_factory.mktemp("configs") / "configs"
    shutil.copytree(config_dir(), copy)
    return copy


def _composed(name: str, overrides: list[str]) -> dict:
    return OmegaConf.to_container(compose(name, overrides), resolve=False)


_ABSENT = object()


def _at(node, where: str):
    for key in where.split("."):
        if not isinstance(node, dict) or key not in node:
            return _ABSENT
        node = node[key]
    return node


def _without(text: str, header: str, wheres: list[str]) -> str:
    trimmed = yaml.safe_load(text)
    for where in wheres:
        node = trimmed
        *path, last = where.split(".")
        for key in path:
            node = node[key]
        del node[last]
    return header + yaml.safe_dump(trimmed, sort_keys=False)


@pytest.mark.parametrize("rel", _yaml_files())
def test_no_yaml_key_restates_what_composition_gives_without_it(rel, config_copy, monkeypatch):
    """Drop each key of the file in turn: if the composed config stays the same, the key restated a default.

    Composed unresolved, a key's removal changes the config at its own path only, to what the file without any of
    its keys gives there; so only the keys whose value that composition already has are dropped one by one."""
    data = yaml.safe_load((config_dir() / rel).read_text()) or {}
    body = {k: v for k, v in data.items() if k not in ("defaults", "hydra")}
    if not body:
        return
    contexts = _contexts(rel)
    originals = [_composed(name, ov) for name, ov in contexts]
    monkeypatch.setenv(CONFIG_DIR_ENV, str(config_copy))
    target = config_copy / rel
    text = target.read_text()
    header = "".join(line + "\n" for line in text.splitlines() if line.startswith("# @package"))
    leaves = [where for where, _ in _leaves(body)]
    restated = []
    try:
        target.write_text(_without(text, header, leaves))
        bare = [_composed(name, ov) for name, ov in contexts]
        suspects = [w for w in leaves if all(_at(b, w) == _at(o, w) for b, o in zip(bare, originals))]
        for where in suspects:
            target.write_text(_without(text, header, [where]))
            if all(_composed(name, ov) == orig for (name, ov), orig in zip(contexts, originals)):
                restated.append(where)
    finally:
        target.write_text(text)
    assert not restated, f"{rel} restates what composes without it (a dataclass default): {', '.join(restated)}"


@pytest.mark.parametrize(
    "name, override, key",
    [
        ("grpo", "training.eval_steps=10", ("training", "eval_steps")),
        ("sft", "dataset.habit=slip", ("dataset", "habit")),
        ("airl", "method.disc_temperature=2.0", ("method", "disc_temperature")),
        ("airl", "reward_model.load_in_4bit=true", ("reward_model", "load_in_4bit")),
        ("grpo", "dataset=gsm8k", ("dataset", "subset")),
        ("grpo", "sampling.vllm_server_port=9000", ("sampling", "vllm_server_port")),
        ("evaluate", "sampling.top_p=0.5", ("sampling", "top_p")),
        ("evaluate_irl", "perturbations_per_trace=2", ("perturbations_per_trace",)),
        ("data_preview", "n=5", ("n",)),
    ],
)
def test_a_key_no_yaml_states_overrides_without_plus(name, override, key):
    cfg = compose(name, [override])
    node = cfg
    for part in key:
        assert part in node, f"{'.'.join(key)} missing from the composed {name} config"
        node = node[part]
    if override.split("=")[0] == ".".join(key):
        assert str(node).lower() == override.split("=")[1]


@pytest.mark.parametrize("name", ["sft", "grpo", "airl"])
def test_the_composed_training_config_holds_every_dataclass_key(name):
    schema = schema_class(name)
    composed = OmegaConf.to_container(compose(name, []), resolve=False)

    def check(value, where, section):
        for f in dataclasses.fields(value):
            assert f.name in section, f"{where}{f.name} missing from the composed {name} config"
            inner = getattr(value, f.name)
            if dataclasses.is_dataclass(inner) and isinstance(section[f.name], dict):
                check(inner, f"{where}{f.name}.", section[f.name])

    check(schema(), "", composed)


def _documented_fields():
    register_schemas()
    seen = {}
    for name in PRIMARIES:
        stack = [schema_class(name)]
        while stack:
            cls = stack.pop()
            if cls.__name__ in seen:
                continue
            seen[cls.__name__] = cls
            for f in dataclasses.fields(cls):
                inner = getattr(cls(), f.name)
                if dataclasses.is_dataclass(inner):
                    stack.append(type(inner))
    from reasoning_irl.composition import group_schemas

    for node in group_schemas().values():
        stack = [type(node)]
        while stack:
            cls = stack.pop()
            seen.setdefault(cls.__name__, cls)
            stack += [
                type(getattr(cls(), f.name))
                for f in dataclasses.fields(cls)
                if dataclasses.is_dataclass(getattr(cls(), f.name))
            ]
    return seen


def test_the_configuration_reference_names_every_field():
    doc = (config_dir().parent / "docs" / "configuration.md").read_text()
    missing = [
        f"{name}.{f.name}"
        for name, cls in _documented_fields().items()
        for f in dataclasses.fields(cls)
        if f"`{f.name}`" not in doc or f"`{name}`" not in doc
    ]
    assert not missing, f"docs/configuration.md does not name: {', '.join(missing)}"
    assert all(f"`{group}`" in doc for group in GROUPS)
