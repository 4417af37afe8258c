"""Loading a policy: any local folder or hub id through one path, plus LoRA, dtype and backend choice.

The paper's Qwen2.5 / Llama-3.x checkpoints and the project's tiny models are loaded by the same
``from_pretrained`` calls; only the backend (plain transformers, or unsloth on a CUDA machine) differs.
"""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path
from typing import Any

import torch

from reasoning_irl.config import ConfigError
from reasoning_irl.models.config import ModelConfig

log = logging.getLogger(__name__)


def cuda_available() -> bool:
    return torch.cuda.is_available()


def resolve_backend(requested: str) -> str:
    """``hf`` or ``unsloth``. unsloth needs CUDA and the package; asking for it elsewhere is an error."""
    has_unsloth = importlib.util.find_spec("unsloth") is not None
    if requested == "unsloth":
        if not cuda_available():
            raise ConfigError("model.backend=unsloth needs a CUDA GPU; use model.backend=hf (or auto) on this machine")
        if not has_unsloth:
            raise ConfigError("model.backend=unsloth needs the unsloth package: pip install -e '.[gpu]'")
        return "unsloth"
    if requested == "auto":
        return "unsloth" if cuda_available() and has_unsloth else "hf"
    return "hf"


def resolve_dtype(name: str) -> torch.dtype:
    """float32 on CPU; bfloat16 on a GPU that supports it (else float16) when ``auto``."""
    if name != "auto":
        return getattr(torch, name)
    if not cuda_available():
        return torch.float32
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


def resolve_model_path(cfg: ModelConfig) -> str:
    """The folder or hub id to load; builds a project tiny model on first use."""
    path = cfg.name_or_path
    if cfg.tiny is not None:
        from reasoning_irl.models.tiny import ensure_tiny_model

        return str(ensure_tiny_model(path, arch=cfg.tiny.arch, preset=cfg.tiny.preset))
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


# The adapter ranks vLLM can serve: its max_lora_rank must be one of these. Its default (16) and unsloth's (64)
# refuse the paper's policy adapter (r=128), so every engine the project builds is given the configured rank.
VLLM_LORA_RANKS = (8, 16, 32, 64, 128, 256, 320, 512)


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


def _load_hf(path: str, cfg: ModelConfig):
    from transformers import AutoModelForCausalLM

    kwargs: dict[str, Any] = {"dtype": resolve_dtype(cfg.dtype)}
    if cfg.load_in_4bit:
        if not cuda_available():
            raise ConfigError("model.load_in_4bit needs a CUDA GPU (bitsandbytes); set it to false on CPU")
        from transformers import BitsAndBytesConfig

        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_compute_dtype=kwargs["dtype"], bnb_4bit_quant_type="nf4"
        )
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


def _load_unsloth(
    path: str, cfg: ModelConfig, max_seq_length: int, fast_inference: bool, gpu_memory_utilization: float
):
    if cfg.init_adapter:
        # Refused rather than silently training a fresh adapter instead of the requested one.
        raise ConfigError("model.init_adapter is not supported with backend=unsloth yet; use model.backend=hf")
    from unsloth import FastLanguageModel  # imported only here: it patches TRL on import

    engine: dict[str, Any] = {}
    if fast_inference:
        # unsloth's vLLM engine serves the LoRA adapter as an adapter (weights shared with training), so its
        # max_lora_rank must hold the configured rank; its memory share is the configured one, not unsloth's 0.5.
        engine["gpu_memory_utilization"] = gpu_memory_utilization
        if cfg.lora is not None:
            engine["max_lora_rank"] = vllm_max_lora_rank(cfg.lora.r, "model.lora.r")
    model, tokenizer = FastLanguageModel.from_pretrained(
        model_name=path,
        max_seq_length=max_seq_length,
        load_in_4bit=cfg.load_in_4bit,
        dtype=resolve_dtype(cfg.dtype),
        fast_inference=fast_inference,
        **engine,
    )
    if cfg.lora is not None:
        model = FastLanguageModel.get_peft_model(
            model,
            r=cfg.lora.r,
            lora_alpha=cfg.lora.alpha,
            lora_dropout=cfg.lora.dropout,
            target_modules=list(cfg.lora.target_modules),
            use_gradient_checkpointing="unsloth" if cfg.gradient_checkpointing else False,
        )
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return model, tokenizer


def load_policy(
    cfg: ModelConfig, max_seq_length: int = 2048, fast_inference: bool = False, gpu_memory_utilization: float = 0.5
):
    """(model, tokenizer) for training: the base model with LoRA adapters (or full weights if lora is null).

    ``fast_inference`` (unsloth only) also builds unsloth's vLLM engine (``model.vllm_engine``) with the given
    share of GPU memory. The trainers refuse to start TRL's own vLLM engine beside it (one engine per process).
    """
    backend = resolve_backend(cfg.backend)
    path = resolve_model_path(cfg)
    log.info("loading policy %s with backend %s", path, backend)
    if backend == "unsloth":
        return _load_unsloth(path, cfg, max_seq_length, fast_inference, gpu_memory_utilization)
    return _load_hf(path, cfg)
