"""Config values that cannot train are refused by the typed config's check in one line that names the key and its
valid range or names (read from the registries), before any model loads and before Hydra writes anything."""

from __future__ import annotations

import pytest

from reasoning_irl.composition import compose, schema_class
from reasoning_irl.config import ConfigError
from reasoning_irl.rewards import PERTURBATIONS
from reasoning_irl.training.config import SFTRunConfig
from reasoning_irl.training.setup import check_run


def scheduler_names() -> str:
    from transformers.trainer_utils import SchedulerType

    return ", ".join(s.value for s in SchedulerType)


# (method, override, what the one line says: a regular expression)
BAD_VALUES = {
    "negative-learning-rate": (
        "sft",
        "training.learning_rate=-1",
        r"^training\.learning_rate must be >= 0, got -1\.0$",
    ),
    "zero-max-length": ("sft", "method.max_length=0", r"^method\.max_length .* must be >= 1, got 0$"),
    "zero-lora-rank": ("sft", "model.lora.r=0", r"^lora\.r must be >= 1, .* got r=0, "),
    "zero-temperature": ("grpo", "sampling.temperature=0", r"^sampling\.temperature must be > 0 .* got 0\.0 and "),
    "zero-completion-length": (
        "grpo",
        "sampling.max_completion_length=0",
        r"^sampling\.max_prompt_length and sampling\.max_completion_length must be >= 1, got \d+ and 0$",
    ),
    "unknown-perturbation": (
        "airl",
        "method.perturbations=[nope]",
        rf"^method\.perturbations: unknown 'nope'; choose from: {', '.join(PERTURBATIONS.names())}$",
    ),
    "unknown-scheduler": (
        "sft",
        "training.lr_scheduler_type=nope",
        rf"^training\.lr_scheduler_type 'nope' unknown; choose a transformers scheduler: {scheduler_names()}$",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_VALUES))
def test_a_value_that_cannot_train_is_one_line_at_config_time(case, compose_run, tmp_path):
    method, override, says = BAD_VALUES[case]
    with pytest.raises(ConfigError, match=says) as refused:
        check_run(compose_run(method, override), schema_class(method), method)
    assert "\n" not in str(refused.value)
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("override", ["reward_model.lora={r:8,alpha:16}", "reward_model.lora.r=8"])
def test_keys_inside_a_null_section_are_one_line_naming_it(override):
    """tiny_airl sets reward_model.lora: null; OmegaConf cannot fill a null section from the command line."""
    with pytest.raises(ConfigError) as refused:
        compose("airl", ["experiment=tiny_airl", override])
    line = str(refused.value)
    assert line.startswith(f"{override}: reward_model.lora is null in this config") and "\n" not in line
    assert "experiment file" in line and "{reward_model: {lora: {r: 8" in line


@pytest.mark.parametrize("given", ["folder", "file"])
def test_a_gguf_model_is_one_line_naming_the_file(given, compose_run, tmp_path):
    folder = tmp_path / "llama-gguf"
    folder.mkdir()
    gguf = folder / "model-q4_k_m.gguf"
    gguf.write_bytes(b"GGUF\x03\x00\x00\x00")
    path = folder if given == "folder" else gguf
    cfg = compose_run("sft", "model.tiny=null", f"model.name_or_path={path}")
    with pytest.raises(ConfigError, match=rf"^name_or_path: {gguf} is a GGUF file, which transformers does not train"):
        check_run(cfg, SFTRunConfig, "sft")


def test_ks_above_the_sample_count_is_refused_naming_both_numbers():
    from reasoning_irl.evaluation.config import EvalConfig, typed_config

    cfg = compose("evaluate", ["ks=[1,4,16]", "sampling.num_samples=8"])
    with pytest.raises(ConfigError, match=r"^ks=\[1, 4, 16\]: k=16 is more than sampling\.num_samples=8 "):
        typed_config(cfg, EvalConfig)


def test_the_scheduler_and_optimizer_names_are_the_pinned_transformers_own():
    # listed in training/config.py so that a refused config never waits for transformers' trainer utilities
    from transformers.trainer_utils import SchedulerType
    from transformers.training_args import OptimizerNames

    from reasoning_irl.training.config import OPTIMIZERS, SCHEDULERS

    assert SCHEDULERS == tuple(s.value for s in SchedulerType)
    assert OPTIMIZERS == tuple(o.value for o in OptimizerNames)
