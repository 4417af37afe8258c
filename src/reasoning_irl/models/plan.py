"""What a configured model is made of, without its weights: the architecture's config, parameter counts of the
base model and of its LoRA adapters, and the shapes the memory estimate needs.

The model is built on the meta device (shapes only, no memory, nothing downloaded) from one of:

- a local folder with a ``config.json`` (a project run, a downloaded copy, a built tiny model);
- a project-built tiny model not built yet: its preset, with the vocabulary of the project tokenizer;
- a hub id whose architecture is kept in ``configs/architectures/`` (``Qwen/Qwen2.5-3B-Instruct`` -> ``qwen2.5-3b``:
  an Instruct model has its base model's architecture).

Anything else is refused in one line: the hub is never asked.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple, Optional

import torch
from torch import nn

from reasoning_irl.config import ConfigError
from reasoning_irl.models.config import LoraSettings, ModelConfig

# Keys of a kept config.json that describe the released checkpoint, not the architecture.
_CHECKPOINT_KEYS = ("_source", "architectures", "torch_dtype", "dtype", "transformers_version")


class Trainable(NamedTuple):
    """One tensor the optimizer updates: its size, and what decides its optimizer states' format."""

    numel: int
    added: bool
    """A LoRA adapter or the reward head: float32 whatever the base dtype (peft upcasts adapters of a bf16 base)."""
    embedding: bool
    """The weight of an ``nn.Embedding`` (transformers keeps its bitsandbytes states in 32 bits)."""


@dataclass
class ModelSize:
    """Counts and shapes of one model as it is trained (the reward model: backbone plus scalar head)."""

    source: str
    """Where the architecture came from (a kept architecture's name, a folder, a tiny preset)."""
    params: int
    """Distinct parameters of the base model, tied embeddings counted once (the published size)."""
    quantizable: int
    """Parameters of the Linear layers 4-bit loading quantises (every Linear but the output head)."""
    lora: int
    """LoRA adapter parameters (0 without adapters)."""
    head: int
    """Parameters added on top of the base (the reward model's scalar head)."""
    num_layers: int
    hidden_size: int
    intermediate_size: int
    kv_dim: int
    """num_key_value_heads x head_dim: the width of K (and of V) per token and layer."""
    vocab_size: int
    lora_modules: int
    """Adapted Linear modules per decoder layer."""
    lora_r: int
    """The adapters' rank (0 without adapters)."""
    tensors: tuple[Trainable, ...] = ()
    """Every tensor the optimizer updates (adapters and head with LoRA, every weight and the head without)."""

    @property
    def trainable(self) -> int:
        """Parameters the optimizer updates: the adapters (and head) with LoRA, everything without."""
        return self.lora + self.head if self.lora else self.params + self.head


def kept_name(name_or_path: str) -> Optional[str]:
    """The kept architecture of a hub id or name: ``Org/Qwen2.5-3B-Instruct`` -> ``qwen2.5-3b`` if that is kept."""
    from reasoning_irl.models.tiny import kept_architectures

    stem = name_or_path.rstrip("/").rsplit("/", 1)[-1].lower()
    stem = stem[: -len("-instruct")] if stem.endswith("-instruct") else stem
    return stem if stem in kept_architectures() else None


def architecture(cfg: ModelConfig, where: str) -> tuple[Any, str]:
    """(transformers config, where it came from) of the model ``cfg`` names; ``where`` names the config
    section in the one-line refusal."""
    from transformers import AutoConfig

    from reasoning_irl.models.tiny import architecture_config, kept_architectures

    folder = Path(cfg.name_or_path).expanduser()
    if (folder / "config.json").is_file():
        # local_files_only: a folder's config never sends a request, whatever the environment says
        return AutoConfig.from_pretrained(str(folder), local_files_only=True), str(folder)
    if cfg.tiny is not None:
        return _tiny_config(cfg), f"tiny {cfg.tiny.arch}/{cfg.tiny.preset} (not built yet)"
    name = kept_name(cfg.name_or_path)
    if name is None:
        raise ConfigError(
            f"{where}.name_or_path: no architecture for {cfg.name_or_path!r}: not a local folder with "
            f"config.json, nor kept in configs/architectures/ ({', '.join(kept_architectures())}); "
            f"the plan never downloads one"
        )
    kept = {k: v for k, v in architecture_config(name).items() if k not in _CHECKPOINT_KEYS}
    return AutoConfig.for_model(kept.pop("model_type"), **kept), name


def _tiny_config(cfg: ModelConfig) -> Any:
    """The config a tiny model would be built with: its preset, the project tokenizer's vocabulary (trained in
    memory, a second or two; nothing is written)."""
    from reasoning_irl.models.tiny import build_model
    from reasoning_irl.models.tokenizer_training import train_tokenizer, training_corpus

    tokenizer = train_tokenizer(cfg.tiny.arch, training_corpus(None))
    return build_model(cfg.tiny.arch, cfg.tiny.preset, tokenizer, device="meta").config


def meta_model(config: Any, causal_lm: bool = True) -> nn.Module:
    """The model of ``config`` on the meta device: every parameter's shape, no storage."""
    from transformers import AutoModel, AutoModelForCausalLM

    cls = AutoModelForCausalLM if causal_lm else AutoModel
    with torch.device("meta"):
        return cls.from_config(config)


def param_count(model: nn.Module) -> int:
    """Distinct parameters (tied embeddings counted once, as the model cards count them)."""
    return sum(p.numel() for p in model.parameters())


def adapter_settings(cfg: ModelConfig) -> Optional[LoraSettings]:
    """The adapters training puts on the model: a saved adapter's own (``init_adapter``) or ``cfg.lora``."""
    if cfg.init_adapter:
        saved = Path(cfg.init_adapter) / "adapter_config.json"
        if saved.is_file():
            data = json.loads(saved.read_text())
            targets = data["target_modules"]
            return LoraSettings(
                r=data["r"],
                alpha=data.get("lora_alpha", data["r"]),
                target_modules=[targets] if isinstance(targets, str) else list(targets),
            )
    return cfg.lora


def lora_tensors(model: nn.Module, lora: LoraSettings) -> tuple[list[int], int]:
    """(size of every adapter tensor, adapted modules per layer): the configured peft LoraConfig applied to the meta
    model, with the target filter loading uses (the names the model has)."""
    from peft import LoraConfig, get_peft_model

    present = {name.rsplit(".", 1)[-1] for name, _ in model.named_modules()}
    targets = [t for t in lora.target_modules if t in present]
    if not targets:
        return [], 0
    # on the meta device, peft's new adapter layers are shapes too (else it allocates and initialises them on the CPU)
    with warnings.catch_warnings(), torch.device("meta"):
        warnings.simplefilter("ignore")  # peft's deprecation notices about transformers' renamed attributes
        peft_model = get_peft_model(model, LoraConfig(r=lora.r, lora_alpha=lora.alpha, target_modules=targets))
    return [p.numel() for name, p in peft_model.named_parameters() if "lora_" in name], len(targets)


def weight_tensors(model: nn.Module) -> list[Trainable]:
    """Every distinct weight of the model (a tied embedding once), embeddings marked."""
    embeddings = {id(m.weight) for m in model.modules() if isinstance(m, nn.Embedding)}
    return [Trainable(p.numel(), False, id(p) in embeddings) for p in model.parameters()]


def quantizable_count(model: nn.Module) -> int:
    """Weights bitsandbytes 4-bit loading quantises: every Linear except the output embedding (transformers keeps
    the LM head in the compute dtype; embeddings and norms are not Linear)."""
    head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    return sum(m.weight.numel() for m in model.modules() if isinstance(m, nn.Linear) and m is not head)


def model_size(cfg: ModelConfig, where: str, reward_head: bool = False, lm_prior: bool = False) -> ModelSize:
    """Counts of the policy (``reward_head`` False) or of a reward model: the backbone without its LM head
    (with it for ``lm_prior``) plus a ``Linear(hidden, 1)`` head, as :mod:`reasoning_irl.models.reward_model`
    builds it."""
    config, source = architecture(cfg, where)
    model = meta_model(config, causal_lm=not reward_head or lm_prior)
    params, quantizable = param_count(model), quantizable_count(model)
    text = config.get_text_config() if hasattr(config, "get_text_config") else config
    lora = adapter_settings(cfg)
    sizes, modules = lora_tensors(model, lora) if lora is not None else ([], 0)
    adapters = sum(sizes)
    # without adapters (none configured, or no target module in this architecture) the whole model trains
    base = [] if adapters else weight_tensors(model)
    head = [Trainable(text.hidden_size, True, False), Trainable(1, True, False)] if reward_head else []
    head_dim = getattr(text, "head_dim", None) or text.hidden_size // text.num_attention_heads
    kv_heads = getattr(text, "num_key_value_heads", None) or text.num_attention_heads
    return ModelSize(
        source=source,
        params=params,
        quantizable=quantizable,
        lora=adapters,
        head=text.hidden_size + 1 if reward_head else 0,
        num_layers=text.num_hidden_layers,
        hidden_size=text.hidden_size,
        intermediate_size=text.intermediate_size,
        kv_dim=kv_heads * head_dim,
        vocab_size=text.vocab_size,
        lora_modules=modules,
        lora_r=lora.r if adapters else 0,
        tensors=tuple(base + [Trainable(n, True, False) for n in sizes] + head),
    )
