"""The arguments every vLLM engine is built with, checked on CPU.

vLLM needs CUDA, so a fake ``vllm`` module is put in ``sys.modules``; its constructors only record what they were
called with and then stop the caller (no engine, no results). The paper trains the policy with LoRA r=128 and the
reward model with r=32, above vLLM's default max_lora_rank (16). Also the one-GPU recipe's refusals
(docs/scaling_out.md): unsloth, a 4-bit policy with vLLM, a 4-bit reward model; and the 4-bit device map.
"""

from __future__ import annotations

import importlib.machinery
import json
import os
import sys
import types
from types import SimpleNamespace

import pytest
import torch

from reasoning_irl.config import ConfigError
from reasoning_irl.models import loading
from reasoning_irl.models.config import ModelConfig


class EngineBuilt(Exception):
    """Raised by a fake engine constructor once it has recorded its arguments."""


def fake_module(monkeypatch, name: str, **attrs) -> types.ModuleType:
    module = types.ModuleType(name)
    module.__spec__ = importlib.machinery.ModuleSpec(name, None)  # importlib.util.find_spec finds it
    for key, value in attrs.items():
        setattr(module, key, value)
    monkeypatch.setitem(sys.modules, name, module)
    return module


def recording_engine(calls: list):
    class FakeLLM:
        def __init__(self, **kwargs):
            calls.append(kwargs)
            raise EngineBuilt

    return FakeLLM


@pytest.fixture
def fake_vllm(monkeypatch):
    """A CUDA machine with vLLM installed: LLM(...) records its arguments and stops the caller."""
    calls: list[dict] = []
    fake_module(monkeypatch, "vllm", LLM=recording_engine(calls), SamplingParams=dict)
    fake_module(monkeypatch, "vllm.inputs", TokensPrompt=dict)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    return calls


@pytest.mark.parametrize("r, engine_rank", [(128, 128), (32, 32), (48, 64)])
def test_evaluation_engine_serves_the_adapter_rank(fake_vllm, tmp_path, r, engine_rank):
    from reasoning_irl.evaluation.sampling import PolicySpec, sample_vllm

    (tmp_path / "adapter_config.json").write_text(json.dumps({"r": r}))
    spec = PolicySpec(base="org/model", adapter=str(tmp_path), tokenizer=str(tmp_path))
    with pytest.raises(EngineBuilt):
        sample_vllm(
            spec, None, [], [], n=4, temperature=1.0, top_p=1.0, max_new_tokens=8, seed=0, gpu_memory_utilization=0.25
        )
    [call] = fake_vllm
    assert call["enable_lora"] is True and call["max_lora_rank"] == engine_rank
    assert call["gpu_memory_utilization"] == 0.25 and call["model"] == "org/model"


def test_evaluation_engine_of_a_full_model_has_no_lora(fake_vllm):
    from reasoning_irl.evaluation.sampling import PolicySpec, sample_vllm

    with pytest.raises(EngineBuilt):
        sample_vllm(
            PolicySpec(base="org/model", tokenizer="org/model"),
            None,
            [],
            [],
            n=2,
            temperature=1.0,
            top_p=1.0,
            max_new_tokens=8,
            seed=0,
            gpu_memory_utilization=0.5,
        )
    assert "enable_lora" not in fake_vllm[0] and "max_lora_rank" not in fake_vllm[0]


def test_trl_training_engine_takes_merged_weights(monkeypatch):
    """TRL's colocated engine is built without LoRA: TRL merges the adapter and pushes full weights before each
    generation, so no max_lora_rank reaches it (GRPOConfig has no such field). Should a TRL release build it with
    enable_lora, this fails: grpo_arguments must then pass the configured rank."""
    generation = pytest.importorskip("trl.generation.vllm_generation")
    calls: list[dict] = []
    monkeypatch.setattr(generation, "is_vllm_available", lambda: True)
    monkeypatch.setattr(generation, "LLM", recording_engine(calls), raising=False)
    saved_env = dict(os.environ)  # TRL sets RANK, WORLD_SIZE, MASTER_ADDR... for vLLM: put the environment back
    accelerator = SimpleNamespace(
        num_processes=1, process_index=0, local_process_index=0, state=SimpleNamespace(deepspeed_plugin=None)
    )
    model = torch.nn.Linear(2, 2)
    model.name_or_path = "org/model"
    try:
        with pytest.raises(EngineBuilt):
            generation.VLLMGeneration(
                model=model, accelerator=accelerator, processing_class=None, mode="colocate", gpu_memory_utilization=0.3
            )
    finally:
        # Left set, every later Accelerator in this process would think it runs distributed and wrap models in DDP.
        os.environ.clear()
        os.environ.update(saved_env)
    [call] = calls
    assert call["gpu_memory_utilization"] == 0.3 and call["model"] == "org/model"
    assert not call.get("enable_lora") and "max_lora_rank" not in call


def test_unsloth_is_refused_even_where_it_is_installed(monkeypatch):
    """`auto` picked unsloth on a CUDA machine with the package, whose GRPO path swaps TRL's trainer and config
    classes for its own: the project's trainers never run there. Now every model loads with transformers."""
    fake_module(monkeypatch, "unsloth")
    monkeypatch.setattr(loading, "cuda_available", lambda: True)
    assert loading.resolve_backend("auto") == "hf"
    for check in (ModelConfig(backend="unsloth").check, lambda: loading.resolve_backend("unsloth")):
        with pytest.raises(ConfigError, match=r"^model.backend=unsloth is not supported .*model.backend=hf with "):
            check()


def test_a_4bit_policy_is_refused_with_vllm(monkeypatch):
    """vLLM 0.31 has no bitsandbytes in tree and TRL cannot push 4-bit LoRA weights into it: refused in one line that
    names the recipe, on any machine (also plan=true's check, on_this_machine=False)."""
    from reasoning_irl.training.setup import check_vllm

    fake_module(monkeypatch, "vllm")
    monkeypatch.setattr(loading, "cuda_available", lambda: True)
    four_bit = ModelConfig(load_in_4bit=True)
    for on_this_machine in (True, False):
        with pytest.raises(ConfigError, match="model.load_in_4bit=false sampling.use_vllm=true") as info:
            check_vllm(True, four_bit, on_this_machine)
        assert "\n" not in str(info.value)
    check_vllm(False, four_bit)  # 4-bit with HF generate stays allowed
    check_vllm(True, ModelConfig())  # the recipe: bf16 policy with vLLM


def test_vllm_needs_cuda_and_the_package_only_on_this_machine(monkeypatch):
    from reasoning_irl.training.setup import check_vllm

    monkeypatch.setattr(loading, "cuda_available", lambda: False)
    with pytest.raises(ConfigError, match="needs a CUDA GPU"):
        check_vllm(True, ModelConfig())
    check_vllm(True, ModelConfig(), on_this_machine=False)  # plan=true plans a GPU run on any machine
    monkeypatch.setattr(loading, "cuda_available", lambda: True)
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "vllm" else object())
    with pytest.raises(ConfigError, match="needs the vllm package: make install-gpu"):
        check_vllm(True, ModelConfig())


def test_a_4bit_reward_model_is_refused():
    from reasoning_irl.training.setup import check_reward_model_config

    with pytest.raises(ConfigError, match="^reward_model.load_in_4bit=true: .*set reward_model.load_in_4bit=false"):
        check_reward_model_config(ModelConfig(load_in_4bit=True))
    check_reward_model_config(ModelConfig())


@pytest.mark.parametrize("local_rank, device", [(None, 0), ("0", 0), ("3", 3)])
def test_a_4bit_policy_loads_onto_its_own_processs_gpu(monkeypatch, local_rank, device):
    """Under `accelerate launch` each process loads its 4-bit copy onto its own GPU (LOCAL_RANK); without a device map
    every rank loaded onto cuda:0 and accelerate refused ranks > 0."""
    monkeypatch.setattr(loading, "cuda_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    if local_rank is None:
        monkeypatch.delenv("LOCAL_RANK", raising=False)
    else:
        monkeypatch.setenv("LOCAL_RANK", local_rank)
    kwargs = loading.policy_load_kwargs(ModelConfig(load_in_4bit=True))
    assert kwargs["device_map"] == {"": device} and kwargs["dtype"] is torch.bfloat16
    assert kwargs["quantization_config"].load_in_4bit and kwargs["quantization_config"].bnb_4bit_quant_type == "nf4"
    assert "device_map" not in loading.policy_load_kwargs(ModelConfig())  # bf16: the Trainer places it
