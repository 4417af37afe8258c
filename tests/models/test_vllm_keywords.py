"""Every keyword that reaches vLLM is one the pinned vLLM takes, checked without vLLM (it needs CUDA).

The names vLLM accepts are read from the pinned release's source (pinned/vllm-<version>.json, written by
pinned/extract_vllm_signatures.py from the wheel); where vLLM is installed the same checks also run against it. The
keywords are recorded by fake ``vllm`` modules: those the evaluation passes (``sample_vllm``), and those TRL's own
colocated engine passes to ``LLM`` and ``SamplingParams`` with the GRPOConfig the project builds. A wrong name fails
only when vLLM runs: ``SamplingParams`` refuses an unknown keyword, and so does ``EngineArgs``, which ``LLM`` forwards
its other keywords to.
"""

from __future__ import annotations

import importlib.machinery
import json
import os
import sys
import types
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from omegaconf import OmegaConf

from reasoning_irl.composition import compose
from reasoning_irl.config import validate
from reasoning_irl.models.loading import VLLM_LORA_RANKS
from reasoning_irl.training.config import GRPORunConfig
from reasoning_irl.training.setup import Run, grpo_arguments

ROOT = Path(__file__).resolve().parents[2]
PINNED = Path(__file__).resolve().parent / "pinned"


def vllm_pin() -> str:
    for line in (ROOT / "constraints" / "gpu.txt").read_text().splitlines():
        if line.startswith("vllm=="):
            return line.split("==", 1)[1].split("#", 1)[0].strip()
    raise AssertionError("constraints/gpu.txt pins no vllm")


@dataclass
class Accepted:
    """The keyword names one vLLM release takes."""

    sampling_params: set[str]
    llm: set[str]  # LLM.__init__'s own parameters and EngineArgs' fields (LLM's **kwargs go there)
    lora_request: list[str]  # in order: positional arguments fill these
    lora_ranks: tuple[int, ...]


def pinned() -> Accepted:
    path = PINNED / f"vllm-{vllm_pin()}.json"
    assert path.is_file(), f"{path.name} missing: run pinned/extract_vllm_signatures.py on the pinned wheel"
    sig = json.loads(path.read_text())
    return Accepted(
        sampling_params=set(sig["SamplingParams"]),
        llm=set(sig["LLM.__init__"]) | set(sig["EngineArgs"]),
        lora_request=list(sig["LoRARequest"]),
        lora_ranks=tuple(sig["LoRAConfig.max_lora_rank"]["allowed"]),
    )


def installed() -> Accepted:
    import dataclasses
    import inspect
    import typing

    vllm = pytest.importorskip("vllm", reason="vLLM is not installed (CUDA only): checked against the pinned file")
    from vllm.config.lora import LoRAConfig
    from vllm.engine.arg_utils import EngineArgs
    from vllm.lora.request import LoRARequest

    params = inspect.signature(vllm.LLM.__init__).parameters.values()
    return Accepted(
        sampling_params={n for n in vllm.SamplingParams.__struct_fields__ if not n.startswith("_")},
        llm={p.name for p in params if p.name != "self" and p.kind is not p.VAR_KEYWORD}
        | {f.name for f in dataclasses.fields(EngineArgs) if f.init},
        lora_request=list(LoRARequest.__struct_fields__),
        lora_ranks=typing.get_args(LoRAConfig.__annotations__["max_lora_rank"]),
    )


@pytest.fixture(scope="module", params=["pinned", "installed"])
def accepted(request) -> Accepted:
    """Module-scoped, so the real vllm (where there is one) is read before any test puts its fake in place."""
    return pinned() if request.param == "pinned" else installed()


def test_the_pinned_file_is_the_pinned_vllm():
    """Bumping vLLM in constraints/gpu.txt fails here until the file is written from the new wheel."""
    files = sorted(p.name for p in PINNED.glob("vllm-*.json"))
    assert files == [f"vllm-{vllm_pin()}.json"]
    assert json.loads((PINNED / files[0]).read_text())["vllm"] == vllm_pin()


def test_the_pinned_file_matches_the_installed_vllm():
    """Where the pinned vLLM is installed, the names read from its source are the ones it has."""
    vllm = pytest.importorskip("vllm", reason="vLLM is not installed (CUDA only)")
    if vllm.__version__ != vllm_pin():
        pytest.skip(f"vLLM {vllm.__version__} is installed, not the pinned {vllm_pin()}")
    assert installed() == pinned()


class Stop(Exception):
    """Raised by a recording fake once the keywords of interest are in."""


def fake_module(monkeypatch, name: str, **attrs) -> None:
    module = types.ModuleType(name)
    module.__spec__ = importlib.machinery.ModuleSpec(name, None)  # importlib.util.find_spec finds it
    for key, value in attrs.items():
        setattr(module, key, value)
    monkeypatch.setitem(sys.modules, name, module)


def recorder(calls: list, result=None, stop: bool = False):
    def record(*args, **kwargs):
        calls.append((args, kwargs))
        if stop:
            raise Stop
        return result(*args, **kwargs) if result else kwargs

    return record


def unknown(calls: list, names) -> set[str]:
    return {key for _, kwargs in calls for key in kwargs} - set(names)


class Tokenizer:
    """Renders any chat to one token (render_prompt only asks that a chat template exists)."""

    chat_template = "any"

    def apply_chat_template(self, messages, **kwargs):
        return "question"

    def __call__(self, text, **kwargs):
        return {"input_ids": [5]}


def test_evaluation_passes_only_vllm_keywords(accepted, monkeypatch, tmp_path):
    """``sample_vllm`` with a LoRA adapter of the paper's rank, sampling and greedy, one prompt."""
    from reasoning_irl.evaluation.sampling import PolicySpec, sample_vllm

    llm_calls, params_calls, lora_calls = [], [], []

    class FakeLLM:
        def __init__(self, **kwargs):
            llm_calls.append(((), kwargs))

        def generate(self, requests, params, lora_request=None):
            n = params[0]["n"] if isinstance(params, list) else params["n"]
            return [SimpleNamespace(outputs=[SimpleNamespace(token_ids=[1])] * n) for _ in requests]

    fake_module(monkeypatch, "vllm", LLM=FakeLLM, SamplingParams=recorder(params_calls))
    fake_module(monkeypatch, "vllm.inputs", TokensPrompt=dict)
    fake_module(monkeypatch, "vllm.lora")
    fake_module(monkeypatch, "vllm.lora.request", LoRARequest=recorder(lora_calls, result=lambda *a, **k: a))
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    tokenizer = Tokenizer()
    (tmp_path / "adapter_config.json").write_text(json.dumps({"r": 128}))
    spec = PolicySpec(base="org/model", adapter=str(tmp_path), tokenizer=str(tmp_path))
    sampled = sample_vllm(
        spec,
        tokenizer,
        [[{"role": "user", "content": "q"}]],
        ["p0"],
        n=4,
        temperature=1.0,
        top_p=0.95,
        max_new_tokens=8,
        seed=0,
        greedy=True,
    )
    assert len(sampled[0].samples) == 4 and sampled[0].greedy == [1]
    assert len(llm_calls) == 1 and len(params_calls) == 2 and len(lora_calls) == 1
    assert not unknown(llm_calls, accepted.llm), "LLM (EngineArgs) refuses these"
    assert not unknown(params_calls, accepted.sampling_params), "SamplingParams refuses these"
    assert llm_calls[0][1]["max_lora_rank"] in accepted.lora_ranks
    [(args, kwargs)] = lora_calls
    assert not set(kwargs) - set(accepted.lora_request) and len(args) <= len(accepted.lora_request)
    bound = dict(zip(accepted.lora_request, args))  # vLLM's order decides what each positional argument is
    assert (bound["lora_name"], bound["lora_int_id"], bound["lora_path"]) == ("policy", 1, str(tmp_path))


def paper_grpo_config(tmp_path, *overrides: str):
    """The real GRPOConfig of a paper preset (built as on this CPU machine: only generation matters here)."""
    from trl import GRPOConfig

    resolved = OmegaConf.to_container(compose("grpo", ["experiment=gsm8k_qwen2.5-7b_grpo", *overrides]), resolve=True)
    resolved.pop("hydra", None)
    typed = validate(resolved, GRPORunConfig, "config")
    return grpo_arguments(Run(typed, None, tmp_path, None, "", resolved), GRPOConfig)


def trl_colocate_calls(monkeypatch, args) -> tuple[dict, dict]:
    """(LLM keywords, SamplingParams keywords) of TRL's colocated engine, built and called as GRPOTrainer does."""
    generation = pytest.importorskip("trl.generation.vllm_generation")
    llm_calls, params_calls = [], []
    monkeypatch.setattr(generation, "is_vllm_available", lambda: True)
    monkeypatch.setattr(generation, "LLM", recorder(llm_calls, result=lambda **kw: SimpleNamespace()), raising=False)
    monkeypatch.setattr(generation, "SamplingParams", recorder(params_calls, stop=True), raising=False)
    accelerator = SimpleNamespace(
        num_processes=1,
        process_index=0,
        local_process_index=0,
        is_main_process=True,
        state=SimpleNamespace(deepspeed_plugin=None),
        wait_for_everyone=lambda: None,
    )
    model = torch.nn.Linear(2, 2)
    model.name_or_path = "org/model"
    saved_env = dict(os.environ)  # TRL sets RANK, WORLD_SIZE, MASTER_ADDR... for vLLM: put the environment back
    try:
        # The arguments of trl.GRPOTrainer's VLLMGeneration(...) (TRL 1.15), from the GRPOConfig.
        engine = generation.VLLMGeneration(
            model=model,
            accelerator=accelerator,
            processing_class=None,
            mode=args.vllm_mode,
            structured_outputs_regex=args.vllm_structured_outputs_regex,
            tensor_parallel_size=args.vllm_tensor_parallel_size,
            gpu_memory_utilization=args.vllm_gpu_memory_utilization,
            max_model_length=args.vllm_max_model_length,
            max_num_seqs=args.per_device_train_batch_size * args.steps_per_generation,
            enable_sleep_mode=args.vllm_enable_sleep_mode,
            model_impl=args.vllm_model_impl,
            trust_remote_code=args.trust_remote_code,
            repetition_penalty=args.repetition_penalty,
            temperature=args.temperature,
            top_p=args.top_p,
            top_k=args.top_k,
            min_p=args.min_p,
            max_completion_length=args.max_completion_length,
            logprobs=0,
            generation_kwargs=args.generation_kwargs,
        )
        with pytest.raises(Stop):
            engine.generate(prompts=[[1, 2, 3]], images=None, num_generations=args.num_generations)
    finally:
        # Left set, every later Accelerator in this process would think it runs distributed and wrap models in DDP.
        os.environ.clear()
        os.environ.update(saved_env)
    [(_, llm_kwargs)] = llm_calls
    [(_, params_kwargs)] = params_calls
    return llm_kwargs, params_kwargs


def test_trls_colocated_engine_passes_only_vllm_keywords(accepted, monkeypatch, tmp_path):
    """With ``sampling.min_completion_length`` set, the project's generation_kwargs reach SamplingParams(**...) too.
    vLLM calls the minimum ``min_tokens``; ``min_new_tokens`` (transformers' name, which grpo_arguments once passed
    whatever the sampler) makes SamplingParams refuse the keyword, so training stopped at its first generation."""
    args = paper_grpo_config(tmp_path, "sampling.min_completion_length=64", "sampling.use_vllm=true")
    assert args.use_vllm and args.vllm_mode == "colocate"
    llm_kwargs, params_kwargs = trl_colocate_calls(monkeypatch, args)
    refused = set(params_kwargs) - accepted.sampling_params
    assert not refused, f"SamplingParams refuses {sorted(refused)}"
    assert params_kwargs["min_tokens"] == 64 and params_kwargs["max_tokens"] == 824
    refused = set(llm_kwargs) - accepted.llm
    assert not refused, f"LLM (EngineArgs) refuses {sorted(refused)}"
    assert llm_kwargs["model"] == "org/model" and not llm_kwargs.get("enable_lora")  # merged weights, no adapter


def test_without_vllm_the_minimum_is_transformers_keyword(tmp_path):
    """A policy sampled by HF generate (use_vllm=false) gets GenerationConfig's name for the same minimum."""
    from transformers import GenerationConfig

    args = paper_grpo_config(tmp_path, "sampling.min_completion_length=64", "sampling.use_vllm=false")
    assert args.generation_kwargs == {"min_new_tokens": 64}
    assert set(args.generation_kwargs) <= set(GenerationConfig().to_dict())
    assert "min_tokens" not in GenerationConfig().to_dict()


def test_lora_ranks_are_the_ones_vllm_allows(accepted):
    assert tuple(VLLM_LORA_RANKS) == tuple(accepted.lora_ranks)
