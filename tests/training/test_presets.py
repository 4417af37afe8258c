"""Every experiment preset composes and validates; bad configs fail with one clear line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from omegaconf import OmegaConf
from preset_methods import preset_method

from reasoning_irl.composition import compose
from reasoning_irl.config import ConfigError, config_dir, validate
from reasoning_irl.data import dataset_config
from reasoning_irl.training.airl.config import AIRLRunConfig
from reasoning_irl.training.grpo import GRPORunConfig, run_grpo
from reasoning_irl.training.sft import SFTRunConfig, run_sft

SCHEMAS = {"sft": SFTRunConfig, "grpo": GRPORunConfig, "airl": AIRLRunConfig}
PRESETS = sorted(p.stem for p in (config_dir() / "experiment").glob("*.yaml"))


@pytest.mark.parametrize("preset", PRESETS)
def test_preset_composes_and_validates(preset):
    method = preset_method(preset)
    if method is None:
        pytest.fail(f"{preset}: a preset must end with its method (_sft, _grpo or _airl) or override /method")
    resolved = OmegaConf.to_container(compose(method, [f"experiment={preset}"]), resolve=True)
    typed = validate(resolved, SCHEMAS[method], "config")
    assert typed.method.name == method
    assert dataset_config(resolved["dataset"]).name == resolved["dataset"]["name"]
    assert typed.run_name.startswith(preset.removesuffix(f"_{method}"))


def _walk(node, where=""):
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _walk(value, f"{where}.{key}" if where else str(key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _walk(value, f"{where}[{i}]")
    else:
        yield where, node


@pytest.mark.parametrize("path", sorted(config_dir().rglob("*.yaml")), ids=lambda p: str(p.relative_to(config_dir())))
def test_no_absolute_path_or_wandb_entity(path):
    data = yaml.safe_load(path.read_text()) or {}
    data.pop("defaults", None)  # config paths (/schema/...), not file paths
    for where, value in _walk(data):
        if where.endswith("entity"):
            assert value is None, f"{where} names a wandb entity"
        if isinstance(value, str):
            assert not value.startswith(("/", "~")), f"{where}: absolute path {value!r}"


def test_unknown_key_is_one_line():
    with pytest.raises(ConfigError) as info:
        compose("grpo", ["experiment=tiny_grpo", "training.max_stepz=3"])
    assert str(info.value) == "training.max_stepz: unknown config key"


def test_other_methods_preset_is_refused_by_name(tmp_path):
    for run, other in ((run_grpo, "sft"), (run_sft, "grpo")):
        cfg = compose("grpo" if other == "sft" else "sft", [f"experiment=tiny_{other}", f"output_root={tmp_path}"])
        with pytest.raises(ConfigError, match=f"method.name is '{other}' but this script trains"):
            run(cfg)
    assert not list(tmp_path.iterdir())  # refused before any run folder was made


def test_save_steps_must_align_with_logging(tmp_path):
    cfg = compose("sft", ["experiment=tiny_sft", f"output_root={tmp_path}", "training.save_steps=7"])
    with pytest.raises(ConfigError, match=r"training.save_steps \(7\) must be a multiple of training.logging_steps"):
        run_sft(cfg)


def _script(repo_root: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(repo_root / "train.py"), *args], cwd=repo_root, capture_output=True, text=True, timeout=120
    )


def test_script_prints_a_preset(repo_root):
    done = _script(repo_root, "experiment=tiny_grpo", "--cfg", "job")
    assert done.returncode == 0, done.stderr
    assert yaml.safe_load(done.stdout)["method"]["name"] == "grpo"


def test_script_unknown_key_fails_with_one_line(repo_root, tmp_path):
    done = _script(repo_root, "experiment=tiny_grpo", "training.max_stepz=3", f"output_root={tmp_path}")
    assert done.returncode == 2
    assert done.stderr.strip() == "error: training.max_stepz: unknown config key"


ABLATIONS = sorted(p.stem for p in (config_dir() / "ablation").glob("*.yaml"))
NEEDS_PATH = {
    "frozen_disc": "method.frozen_reward_model",
    "warm_start": "model.init_adapter",
    "continued": "model.init_adapter",
}


@pytest.mark.parametrize("ablation", ABLATIONS)
def test_ablation_overlay_composes_with_paper_and_tiny_presets(ablation, tmp_path):
    for preset in ("tiny_airl", "gsm8k_qwen2.5-3b_airl"):
        overrides = [f"experiment={preset}", f"+ablation={ablation}"]
        if ablation in NEEDS_PATH:
            # The overlay demands a folder: without one it is a clear error, with one it validates.
            resolved = OmegaConf.to_container(compose("airl", overrides), resolve=True)
            with pytest.raises(ConfigError, match=NEEDS_PATH[ablation]):
                validate(resolved, AIRLRunConfig, "config")
            overrides.append(f"{NEEDS_PATH[ablation]}={tmp_path}")
        resolved = OmegaConf.to_container(compose("airl", overrides), resolve=True)
        typed = validate(resolved, AIRLRunConfig, "config")
        assert typed.method.name == "airl"


def test_airl_refuses_habit_demonstrations():
    resolved = OmegaConf.to_container(
        compose("airl", ["experiment=tiny_airl", "dataset.habit=skip_last_step", "dataset.habit_rate=0.4"]),
        resolve=True,
    )
    with pytest.raises(ConfigError, match="AIRL's expert demonstrations must be clean"):
        validate(resolved, AIRLRunConfig, "config")


def test_demo_habit_preset_writes_the_habit_into_a_clean_base():
    resolved = OmegaConf.to_container(compose("sft", ["experiment=demo_habit"]), resolve=True)
    assert resolved["dataset"]["habit"] == "skip_last_step" and resolved["dataset"]["habit_rate"] == 0.4
    assert resolved["model"]["name_or_path"].endswith("demo_base-s0/final")
    for method in ("sft", "grpo", "airl"):
        later = OmegaConf.to_container(compose(method, [f"experiment=demo_{method}"]), resolve=True)
        assert later["model"]["name_or_path"].endswith("demo_habit-s0/final")
        assert later["dataset"].get("habit_rate", 0) == 0  # the methods' demonstrations are clean
