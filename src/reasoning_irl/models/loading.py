"""Loading a policy: any local folder or hub id through one path, plus LoRA, dtype and backend choice.

The paper's Qwen2.5 / Llama-3.x checkpoints and the project's tiny models are loaded by the same
``from_pretrained`` calls (transformers + peft).
"""

from __future__ import annotations

import dataclasses
import logging
import os
from pathlib import Path
from typing import Any

import torch

from reasoning_irl.config import ConfigError
from reasoning_irl.models.config import UNSLOTH_REFUSED, ModelConfig

log = logging.getLogger(__name__)

REAL_MODEL_FOLDER = "smollm2-135m-instruct"  # what `make real-model` converts (reasoning_irl.models.real_model)


def cuda_available() -> bool:
    return torch.cuda.is_available()


def resolve_backend(requested: str) -> str:
    """Always ``hf``: every model loads with transformers + peft (``auto`` names the same). unsloth is refused when
    the config is checked (:meth:`ModelConfig.check`), before anything loads; here again for a config built in code."""
    if requested == "unsloth":
        raise ConfigError(UNSLOTH_REFUSED)
    return "hf"


def resolve_dtype(name: str) -> torch.dtype:
    """float32 on CPU; bfloat16 on a GPU that supports it (else float16) when ``auto``."""
    if name != "auto":
        return getattr(torch, name)
    if not cuda_available():
        return torch.float32
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


def resolve_model_path(cfg: ModelConfig) -> str:
    """The folder or hub id to load; builds a project tiny model, or converts a GGUF file, on first use."""
    path = cfg.name_or_path
    if cfg.gguf_file is not None:
        from reasoning_irl.models.gguf import ensure_converted

        return str(ensure_converted(cfg.gguf_file, path))
    if cfg.tiny is not None:
        from reasoning_irl.models.tiny import ensure_tiny_model

        return str(ensure_tiny_model(path, arch=cfg.tiny.arch, preset=cfg.tiny.preset))
    if Path(path).name == REAL_MODEL_FOLDER and not Path(path).expanduser().exists():
        raise ConfigError(
            f"model.name_or_path: {path} does not exist: `make real-model ARTIFACTS=<artifacts_dir>` makes it"
        )
    if path.startswith((".", "/", "~")) and not Path(path).expanduser().exists():
        raise ConfigError(f"model.name_or_path: {path} does not exist")
    return path


def load_tokenizer(path: str):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(path)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def padding_id(tokenizer: Any, fallback: Any = None) -> int:
    """The id that pads batches: the tokenizer's pad id, else ``fallback`` (default: its end-of-sequence id).
    Tokenizers not loaded by :func:`load_tokenizer` may have no pad token."""
    if tokenizer.pad_token_id is not None:
        return tokenizer.pad_token_id
    return tokenizer.eos_token_id if fallback is None else fallback


# The adapter ranks vLLM 0.31 can serve (its LoRAConfig.max_lora_rank Literal): max_lora_rank must be one of these.
# Its default (16) refuses the paper's policy adapter (r=128), so every engine the project builds gets the adapter's.
VLLM_LORA_RANKS = (1, 8, 16, 32, 64, 128, 256, 320, 512)


def vllm_max_lora_rank(rank: int, where: str) -> int:
    """The smallest max_lora_rank vLLM accepts that holds an adapter of rank ``rank``."""
    fits = [r for r in VLLM_LORA_RANKS if r >= rank]
    if not fits:
        raise ConfigError(f"{where}: vLLM serves LoRA ranks up to {VLLM_LORA_RANKS[-1]}, the adapter has r={rank}")
    return fits[0]


def lora_targets(model: torch.nn.Module, wanted: list[str], where: str = "model.lora") -> list[str]:
    """The names in ``wanted`` that some module of ``model`` has (a preset lists every family's names);
    ``where`` names the config section in the error when none does."""
    present = {name.rsplit(".", 1)[-1] for name, _ in model.named_modules()}
    targets = [t for t in wanted if t in present]
    if not targets:
        raise ConfigError(f"{where}.target_modules {wanted} match no module of this model")
    return targets


def _wrap_lora(model: torch.nn.Module, cfg: ModelConfig) -> torch.nn.Module:
    from peft import LoraConfig, PeftModel, get_peft_model

    if cfg.init_adapter:
        if not Path(cfg.init_adapter).is_dir():
            raise ConfigError(f"model.init_adapter: {cfg.init_adapter} does not exist")
        return PeftModel.from_pretrained(model, cfg.init_adapter, is_trainable=True)
    lora = cfg.lora
    peft_cfg = LoraConfig(
        r=lora.r,
        lora_alpha=lora.alpha,
        lora_dropout=lora.dropout,
        target_modules=lora_targets(model, list(lora.target_modules)),
        task_type="CAUSAL_LM",
    )
    return get_peft_model(model, peft_cfg)


def policy_load_kwargs(cfg: ModelConfig) -> dict[str, Any]:
    """The keyword arguments of ``from_pretrained`` for the policy (no weights touched)."""
    kwargs: dict[str, Any] = {"dtype": resolve_dtype(cfg.dtype)}
    if cfg.load_in_4bit:
        if not cuda_available():
            raise ConfigError("model.load_in_4bit needs a CUDA GPU (bitsandbytes); set it to false on CPU")
        from transformers import BitsAndBytesConfig

        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_compute_dtype=kwargs["dtype"], bnb_4bit_quant_type="nf4"
        )
        # A quantised model cannot be moved after loading, so each process must load onto its own GPU: without a
        # device map every process of `accelerate launch` would load onto cuda:0, and accelerate refuses that.
        kwargs["device_map"] = {"": local_process_index()}
    return kwargs


def local_process_index() -> int:
    """This process's GPU on its machine: LOCAL_RANK under `accelerate launch` / torchrun, else 0."""
    return int(os.environ.get("LOCAL_RANK", "0"))


def _load_hf(path: str, cfg: ModelConfig):
    from transformers import AutoModelForCausalLM

    kwargs = policy_load_kwargs(cfg)
    try:
        model = AutoModelForCausalLM.from_pretrained(path, **kwargs)
    except OSError as exc:
        raise ConfigError(f"model.name_or_path: cannot load {path!r} ({str(exc).splitlines()[0]})") from None
    tokenizer = load_tokenizer(path)
    if cfg.gradient_checkpointing:
        enable = getattr(model, "activation_checkpointing_enable", None) or model.gradient_checkpointing_enable
        enable()  # the transformers 5 name first: the old one warns
        model.enable_input_require_grads()
    if cfg.lora is not None or cfg.init_adapter:
        model = _wrap_lora(model, cfg)
    return model, tokenizer


def load_policy(cfg: ModelConfig):
    """(model, tokenizer) for training: the base model with LoRA adapters (or full weights if lora is null)."""
    resolve_backend(cfg.backend)
    path = resolve_model_path(cfg)
    log.info("loading policy %s", path)
    return _load_hf(path, cfg)


def load_frozen_lm(path: str, like: ModelConfig, tokenizer: Any, where: str = "method.reference_lm") -> torch.nn.Module:
    """A causal LM that only scores (no adapters, no gradients), loaded like the policy ``like`` (its dtype and
    loading path) from ``path`` (the config key ``where`` names it in errors); its tokenizer must be the policy's
    ``tokenizer``, whose ids it reads."""
    cfg = dataclasses.replace(
        like, name_or_path=path, tiny=None, gguf_file=None, lora=None, init_adapter=None, gradient_checkpointing=False
    )
    try:
        model, own = _load_hf(resolve_model_path(cfg), cfg)
    except ConfigError as exc:  # the policy's loader names its own key
        raise ConfigError(str(exc).replace("model.name_or_path", where, 1)) from None
    if own.get_vocab() != tokenizer.get_vocab():
        raise ConfigError(f"{where}: {path} has another tokenizer than the policy's; it must read the same ids")
    return model.requires_grad_(False).eval()
