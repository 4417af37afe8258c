"""Load any policy for evaluation and sample N completions (+ one greedy) per problem.

A policy is one of:

* ``None``: the base model of the config's ``model`` section (a tiny model is built on first use);
* a LoRA adapter folder (a run's ``final/`` or ``checkpoint-N/``, holding ``adapter_config.json``),
  or a run folder holding ``final/``: the base is the adapter's ``base_model_name_or_path`` when
  that loads (a relative path from here, else from a folder above the adapter: a run started in
  another folder), else the ``model`` section of the run's ``config.yaml`` (a tiny base whose relative
  path does not exist from here is looked up in ``artifacts_dir`` and built there if absent);
* a full checkpoint folder (``config.json``) or a hub id.

Determinism (HF backend): every sampled row (problem, sample j) draws its random numbers from its
own ``torch.Generator`` seeded by ``(seed, problem id, j)``, one uniform per generated token, and
the token is taken by inverse-CDF on the temperature/top-p distribution. So the random stream of a
sample does not depend on which other rows share its batch, on ``batch_size`` or on the order of
problems. Given the same batch composition, results are bit-identical. Across compositions the
left padding changes the floating-point logits in the last bits, which can flip a token only at a
near tie of two cumulative probabilities (rare; the tests check equality on the tiny models).
vLLM (GPU) seeds each request with the same per-problem seed; its kernels are not bit-stable.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

import torch

from reasoning_irl.config import ConfigError, validate
from reasoning_irl.data.prompts import render_prompt
from reasoning_irl.evaluation.config import found_from_above
from reasoning_irl.models.config import ModelConfig
from reasoning_irl.models.generation import PerRowSampler, Sampled, eos_ids, row_seed, sample_hf  # noqa: F401
from reasoning_irl.models.loading import load_tokenizer, resolve_dtype, resolve_model_path, vllm_max_lora_rank
from reasoning_irl.models.scoring import token_texts

if TYPE_CHECKING:
    from reasoning_irl.evaluation.config import EvalSampling

log = logging.getLogger(__name__)


@dataclass
class PolicySpec:
    base: str
    """Folder or hub id of the base (or full) model."""
    adapter: Optional[str] = None
    """LoRA adapter folder applied on top, if any."""
    tokenizer: Optional[str] = None
    """Where the tokenizer is loaded from (the adapter folder when it has one)."""


def is_local_path(path: str) -> bool:
    # a hub id is "namespace/name": a path of more parts is a folder, even where it does not exist from here
    return path.startswith((".", "/", "~")) or path.count("/") > 1 or Path(path).expanduser().exists()


def _has_tokenizer(folder: Path) -> bool:
    return (folder / "tokenizer_config.json").is_file()


def _run_model_section(adapter: Path) -> Optional[dict]:
    """The ``model`` section of the run's config.yaml beside (or above) an adapter folder."""
    import yaml

    for folder in (adapter, adapter.parent):
        cfg_file = folder / "config.yaml"
        if cfg_file.is_file():
            data = yaml.safe_load(cfg_file.read_text()) or {}
            if isinstance(data.get("model"), dict):
                return data["model"]
    return None


def _resolve_base(
    name: str, model_section: Optional[dict], artifacts_dir: Optional[str], where: str, adapter: Path
) -> str:
    """A loadable base path for the recorded base ``name`` of the adapter in ``adapter``."""

    section = dict(model_section or {})
    # a relative base recorded by a run started elsewhere is found from a folder above the adapter
    local = found_from_above(name, adapter, Path.is_dir) if name else None
    if local is not None and not (section.get("tiny") and artifacts_dir):
        return str(local)
    if section.get("tiny"):
        candidates = [Path(name or section.get("name_or_path", ""))]
        if artifacts_dir:
            candidates.insert(0, Path(artifacts_dir) / Path(name or section["name_or_path"]).name)
        for c in candidates:
            if c.is_dir():
                return str(c)
        section["name_or_path"] = str(candidates[0])
        return resolve_model_path(validate(section, ModelConfig, "model"))  # builds the tiny model
    if name and not is_local_path(name):
        return name  # hub id
    raise ConfigError(
        f"{where}: base model {name!r} of the adapter does not exist, from here or from a folder above the adapter "
        "(and the run's config.yaml names no tiny model to rebuild)"
    )


def resolve_policy(policy: Optional[str], model_cfg: Any, artifacts_dir: Optional[str] = None) -> PolicySpec:
    """Where to load ``policy`` from (see the module doc); one ConfigError line when it cannot be found."""

    if policy is None:
        base = resolve_model_path(model_cfg)
        return PolicySpec(base=base, tokenizer=base)
    path = Path(policy).expanduser()
    if not path.exists():
        if is_local_path(policy):
            raise ConfigError(f"policy: {policy} does not exist")
        return PolicySpec(base=policy, tokenizer=policy)  # hub id
    if not path.is_dir():
        raise ConfigError(f"policy: {policy} is not a folder")
    if not (path / "adapter_config.json").is_file() and (path / "final" / "adapter_config.json").is_file():
        path = path / "final"
    if (path / "adapter_config.json").is_file():
        adapter_cfg = json.loads((path / "adapter_config.json").read_text())
        name = adapter_cfg.get("base_model_name_or_path") or ""
        section = _run_model_section(path)
        if section is None and model_cfg is not None:
            import dataclasses

            section = dataclasses.asdict(model_cfg) if dataclasses.is_dataclass(model_cfg) else dict(model_cfg)
        base = _resolve_base(name, section, artifacts_dir, "policy", path)
        return PolicySpec(base=base, adapter=str(path), tokenizer=str(path) if _has_tokenizer(path) else base)
    if (path / "config.json").is_file():
        return PolicySpec(base=str(path), tokenizer=str(path))
    raise ConfigError(
        f"policy: {policy} holds neither a LoRA adapter (adapter_config.json), a run's final/, "
        "nor a model (config.json)"
    )


def load_eval_policy(spec: PolicySpec, dtype: str = "auto", device: Optional[str] = None):
    """``(model, tokenizer)`` in eval mode; a LoRA adapter is merged into the base for speed."""
    from transformers import AutoModelForCausalLM

    try:
        model = AutoModelForCausalLM.from_pretrained(spec.base, dtype=resolve_dtype(dtype))
        tokenizer = load_tokenizer(spec.tokenizer or spec.base)
    except OSError as exc:
        raise ConfigError(f"policy: cannot load {spec.base!r} ({str(exc).splitlines()[0]})") from None
    if spec.adapter:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, spec.adapter).merge_and_unload()
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    return model.to(device).eval(), tokenizer


def vllm_lora_rank(adapter: str) -> int:
    """The smallest rank vLLM accepts as max_lora_rank that holds the adapter's own rank."""

    return vllm_max_lora_rank(json.loads((Path(adapter) / "adapter_config.json").read_text())["r"], "policy")


def check_vllm() -> None:
    """vLLM sampling needs a CUDA GPU and the vllm package: refused in one line without them."""
    import importlib.util

    if not torch.cuda.is_available() or importlib.util.find_spec("vllm") is None:
        raise ConfigError(
            "sampling.use_vllm=true needs a CUDA GPU and the vllm package (pip install -e '.[gpu]'); "
            "set sampling.use_vllm=false on this machine"
        )


def sample_vllm(
    spec: PolicySpec,
    tokenizer: Any,
    prompts: Sequence[list[dict]],
    problem_ids: Sequence[str],
    n: int,
    temperature: float,
    top_p: float,
    max_new_tokens: int,
    seed: int,
    greedy: bool = True,
    gpu_memory_utilization: float = 0.9,
) -> list[Sampled]:
    """The same samples with vLLM (CUDA only); each request is seeded with the problem's seed."""
    check_vllm()
    from vllm import LLM, SamplingParams
    from vllm.inputs import TokensPrompt

    lora_kw = {"enable_lora": True, "max_lora_rank": vllm_lora_rank(spec.adapter)} if spec.adapter else {}
    llm = LLM(
        model=spec.base,
        tokenizer=spec.tokenizer or spec.base,
        gpu_memory_utilization=gpu_memory_utilization,
        seed=seed,
        **lora_kw,
    )
    lora = None
    if spec.adapter:
        from vllm.lora.request import LoRARequest

        lora = LoRARequest("policy", 1, spec.adapter)
    encoded = [tokenizer(render_prompt(tokenizer, m), add_special_tokens=False)["input_ids"] for m in prompts]
    requests = [TokensPrompt(prompt_token_ids=e) for e in encoded]
    params = [
        SamplingParams(
            n=n, temperature=temperature, top_p=top_p, max_tokens=max_new_tokens, seed=row_seed(seed, pid, 0) % (2**31)
        )
        for pid in problem_ids
        if n  # n = 0: the greedy completions alone (vLLM refuses n=0)
    ]
    outs = llm.generate(requests, params, lora_request=lora) if n else [None] * len(requests)
    greedy_outs = None
    if greedy:
        greedy_outs = llm.generate(
            requests, SamplingParams(n=1, temperature=0.0, max_tokens=max_new_tokens), lora_request=lora
        )
    return [
        Sampled(
            samples=[list(c.token_ids) for c in o.outputs] if o is not None else [],
            greedy=list(greedy_outs[i].outputs[0].token_ids) if greedy_outs else None,
        )
        for i, o in enumerate(outs)
    ]


def sampler_arguments(sampling: EvalSampling, seed: int) -> dict[str, Any]:
    """What :func:`sample_hf` and :func:`sample_vllm` both take, from an evaluation's ``sampling`` section."""
    return {
        "n": sampling.num_samples,
        "temperature": sampling.temperature,
        "top_p": sampling.top_p,
        "max_new_tokens": sampling.new_tokens,
        "seed": seed,
        "greedy": sampling.greedy,
    }


def sample_with_model(
    model: Any,
    tokenizer: Any,
    prompts: Sequence[list[dict]],
    problem_ids: Sequence[str],
    sampling: EvalSampling,
    seed: int,
    progress: bool = True,
) -> list[Sampled]:
    """:func:`sample_hf` of a loaded policy with an evaluation's ``sampling`` section."""
    arguments = sampler_arguments(sampling, seed)
    return sample_hf(
        model, tokenizer, prompts, problem_ids, **arguments, batch_size=sampling.batch_size, progress=progress
    )


def sample_policy(
    spec: PolicySpec,
    prompts: Sequence[list[dict]],
    problem_ids: Sequence[str],
    sampling: EvalSampling,
    seed: int,
    dtype: str = "auto",
    progress: bool = True,
) -> tuple[list[Sampled], Any]:
    """``(samples, policy tokenizer)``: the policy loaded, sampled with the backend ``sampling.use_vllm`` picks, and
    freed before the reward model loads."""
    if sampling.use_vllm:
        tokenizer = load_tokenizer(spec.tokenizer or spec.base)
        arguments = sampler_arguments(sampling, seed)
        memory = sampling.vllm_gpu_memory_utilization
        return sample_vllm(spec, tokenizer, prompts, problem_ids, **arguments, gpu_memory_utilization=memory), tokenizer
    model, tokenizer = load_eval_policy(spec, dtype)  # freed on return
    return sample_with_model(model, tokenizer, prompts, problem_ids, sampling, seed, progress), tokenizer


def completion_rows(tokenizer: Any, problem_ids: Sequence[str], sampled: Sequence[Sampled]) -> list[dict]:
    """One ``eval_results.jsonl`` row per completion (the greedy one first, ``sample_index`` -1), ungraded."""
    rows = []
    for problem_id, got in zip(problem_ids, sampled):
        items = ([(-1, got.greedy)] if got.greedy is not None else []) + list(enumerate(got.samples))
        for j, completion_ids in items:
            rows.append(
                {
                    "problem_id": problem_id,
                    "sample_index": j,
                    "greedy": j < 0,
                    "completion": tokenizer.decode(completion_ids, skip_special_tokens=True),
                    "completion_ids": [int(t) for t in completion_ids],
                    "tokens": token_texts(tokenizer, completion_ids),
                }
            )
    return rows
