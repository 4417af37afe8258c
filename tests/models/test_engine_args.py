"""The arguments every vLLM engine is built with, checked on CPU.

vLLM and unsloth need CUDA, so fake ``vllm`` / ``unsloth`` modules are put in ``sys.modules``; their
constructors only record what they were called with (and the vLLM ones then stop the caller: no engine,
no results). The paper trains the policy with LoRA r=128 and the reward model with r=32, above vLLM's
default max_lora_rank (16) and unsloth's (64).
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
from reasoning_irl.models.config import LoraSettings, ModelConfig


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
def fake_unsloth(monkeypatch):
    """A CUDA machine with unsloth installed: its from_pretrained / get_peft_model calls are recorded."""
    calls: dict[str, list] = {"from_pretrained": [], "get_peft_model": []}

    class FastLanguageModel:
        @staticmethod
        def from_pretrained(**kwargs):
            calls["from_pretrained"].append(kwargs)
            return SimpleNamespace(), SimpleNamespace(pad_token=None, eos_token="</s>")

        @staticmethod
        def get_peft_model(model, **kwargs):
            calls["get_peft_model"].append(kwargs)
            return model

    fake_module(monkeypatch, "unsloth", FastLanguageModel=FastLanguageModel)
    monkeypatch.setattr(loading, "cuda_available", lambda: True)
    return calls


def unsloth_policy(r: int | None) -> ModelConfig:
    return ModelConfig(
        name_or_path="org/model",
        backend="unsloth",
        dtype="bfloat16",
        lora=None if r is None else LoraSettings(r=r, alpha=r),
    )


@pytest.mark.parametrize("r, engine_rank", [(128, 128), (100, 128), (32, 32), (8, 8)])
def test_unsloth_engine_gets_the_adapter_rank_and_the_memory_share(fake_unsloth, r, engine_rank):
    loading.load_policy(unsloth_policy(r), max_seq_length=512, fast_inference=True, gpu_memory_utilization=0.35)
    [call] = fake_unsloth["from_pretrained"]
    assert call["fast_inference"] is True and call["model_name"] == "org/model" and call["max_seq_length"] == 512
    assert call["max_lora_rank"] == engine_rank and call["gpu_memory_utilization"] == 0.35
    assert fake_unsloth["get_peft_model"][0]["r"] == r


def test_unsloth_without_fast_inference_builds_no_engine(fake_unsloth):
    loading.load_policy(unsloth_policy(128), gpu_memory_utilization=0.35)
    [call] = fake_unsloth["from_pretrained"]
    assert call["fast_inference"] is False
    assert "max_lora_rank" not in call and "gpu_memory_utilization" not in call


def test_unsloth_full_fine_tuning_engine_needs_no_lora_rank(fake_unsloth):
    loading.load_policy(unsloth_policy(None), fast_inference=True, gpu_memory_utilization=0.2)
    [call] = fake_unsloth["from_pretrained"]
    assert "max_lora_rank" not in call and call["gpu_memory_utilization"] == 0.2


def test_unsloth_refuses_a_rank_vllm_cannot_serve(fake_unsloth):
    with pytest.raises(ConfigError, match="model.lora.r: vLLM serves LoRA ranks up to 512"):
        loading.load_policy(unsloth_policy(1024), fast_inference=True)
    assert fake_unsloth["from_pretrained"] == []


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


def test_training_refuses_a_second_engine_beside_unsloths(fake_unsloth):
    from reasoning_irl.training.setup import check_vllm

    with pytest.raises(ConfigError, match="set model.backend=hf"):
        check_vllm(True, unsloth_policy(128))
    with pytest.raises(ConfigError, match="set model.backend=hf"):
        check_vllm(True, ModelConfig(backend="auto"))  # auto picks unsloth where it is installed
    check_vllm(True, ModelConfig(backend="hf"))
    check_vllm(False, unsloth_policy(128))


def test_trainer_refuses_trl_engine_when_the_policy_has_unsloths():
    from reasoning_irl.training.trainers import ReasoningGRPOTrainer

    policy = SimpleNamespace(vllm_engine=object())
    with pytest.raises(ConfigError, match="one vLLM engine per process"):
        ReasoningGRPOTrainer(model=policy, reward_funcs=[], args=SimpleNamespace(use_vllm=True))
