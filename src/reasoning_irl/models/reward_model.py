"""Token-level reward model (the AIRL discriminator): a causal LM backbone with a scalar head.

``forward`` gives one logit per position; because the backbone is causal, the logit at position
``t`` depends only on tokens ``<= t``, so it can be read as the reward of token ``t`` given its
prefix. Batches must be right-padded: Qwen2/Llama take positions from the sequence index, so left
padding would shift the positions of the real tokens.

A saved reward model is a folder::

    reward_model.json   format marker + backbone name_or_path, mode, lora settings, hidden size
    head.safetensors    the scalar head (weight, bias)
    adapter/            the LoRA adapter (when lora is set), or
    backbone/           the full backbone weights (when lora is None)
    tokenizer files
"""

from __future__ import annotations

import json
import shutil
import uuid
from pathlib import Path
from typing import Any, Optional

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from reasoning_irl.config import ConfigError
from reasoning_irl.models.config import LoraSettings

FORMAT = "reasoning_irl.token_reward_model"
META_FILE = "reward_model.json"
HEAD_FILE = "head.safetensors"
MODES = ("dense", "sparse")


def _lora_targets(model: nn.Module, wanted: list[str]) -> list[str]:
    present = {name.rsplit(".", 1)[-1] for name, _ in model.named_modules()}
    targets = [t for t in wanted if t in present]
    if not targets:
        raise ConfigError(f"reward model lora target_modules {wanted} match no module of this backbone")
    return targets


class TokenRewardModel(nn.Module):
    """Backbone (``AutoModel``, no LM head) + optional LoRA + ``Linear(hidden, 1)`` on every position."""

    def __init__(self, backbone_name_or_path: str, mode: str = "dense", lora: Optional[LoraSettings] = None,
                 dtype: Optional[torch.dtype] = None, _backbone: Optional[nn.Module] = None):
        super().__init__()
        if mode not in MODES:
            raise ConfigError(f"reward model mode must be one of {MODES}, got {mode!r}")
        from transformers import AutoModel

        self.backbone_name_or_path = str(backbone_name_or_path)  # stored as given: no invented abs paths
        self.mode = mode
        self.lora = lora
        base = _backbone if _backbone is not None else AutoModel.from_pretrained(
            self.backbone_name_or_path, **({"dtype": dtype} if dtype is not None else {}))
        self.hidden_size = int(base.config.hidden_size)
        if lora is not None and _backbone is None:
            from peft import LoraConfig, get_peft_model

            cfg = LoraConfig(r=lora.r, lora_alpha=lora.alpha, lora_dropout=lora.dropout,
                             target_modules=_lora_targets(base, list(lora.target_modules)))
            base = get_peft_model(base, cfg)
        self.backbone = base
        # float32 whatever the backbone's dtype: it is trained, and AdamW steps of ~lr on a bf16 weight of ~0.03
        # round away (PEFT keeps LoRA weights in float32 for the same reason). Hidden states are cast up to it.
        self.head = nn.Linear(self.hidden_size, 1)

    def forward(self, input_ids: Optional[torch.Tensor] = None, attention_mask: Optional[torch.Tensor] = None,
                inputs_embeds: Optional[torch.Tensor] = None, **backbone_kwargs: Any) -> torch.Tensor:
        """Token logits ``(B, T)``; position ``t`` has seen tokens ``<= t`` only.

        ``inputs_embeds`` replaces ``input_ids`` (the WGAN gradient penalty differentiates w.r.t. them).
        ``backbone_kwargs`` (``past_key_values``, ``position_ids``, ``use_cache``) go to the backbone: batched
        scoring runs a prompt shared by several completions once and continues each from its key/value cache.
        """
        out = self.backbone(input_ids=input_ids, attention_mask=attention_mask, inputs_embeds=inputs_embeds,
                            **backbone_kwargs)
        hidden = out.last_hidden_state
        return self.head(hidden.to(self.head.weight.dtype)).squeeze(-1)

    def sequence_scores(self, token_logits: torch.Tensor, completion_mask: torch.Tensor,
                        mode: Optional[str] = None) -> torch.Tensor:
        """One score per row, from the completion tokens only (``completion_mask`` 1 there).

        ``dense``: the mean logit over completion tokens (every token's reward counts equally,
        whatever the completion length). ``sparse``: the logit of the last completion token
        (which has seen the whole completion). A row without completion tokens scores 0.
        """
        mode = mode or self.mode
        mask = completion_mask.to(token_logits.dtype)
        count = mask.sum(-1)
        if mode == "dense":
            return (token_logits * mask).sum(-1) / count.clamp(min=1)
        if mode == "sparse":
            positions = torch.arange(mask.shape[-1], device=mask.device)
            last = (completion_mask.bool() * (positions + 1)).argmax(-1)  # largest masked position
            picked = token_logits.gather(-1, last.unsqueeze(-1)).squeeze(-1)
            return torch.where(count > 0, picked, torch.zeros_like(picked))
        raise ConfigError(f"reward model mode must be one of {MODES}, got {mode!r}")

    def metadata(self) -> dict[str, Any]:
        lora = None if self.lora is None else {
            "r": self.lora.r, "alpha": self.lora.alpha, "dropout": self.lora.dropout,
            "target_modules": list(self.lora.target_modules)}
        return {"format": FORMAT, "backbone": self.backbone_name_or_path, "mode": self.mode,
                "lora": lora, "hidden_size": self.hidden_size}

    def save(self, path: str | Path, tokenizer: Any = None) -> Path:
        """Write the folder atomically: build it in a temp sibling, then rename over ``path``."""
        out = Path(path)
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name(f".{out.name}.tmp-{uuid.uuid4().hex[:8]}")
        try:
            tmp.mkdir()
            if self.lora is not None:
                self.backbone.save_pretrained(tmp / "adapter")
            else:
                self.backbone.save_pretrained(tmp / "backbone")
            save_file({k: v.detach().contiguous().cpu() for k, v in self.head.state_dict().items()}, tmp / HEAD_FILE)
            if tokenizer is not None:
                tokenizer.save_pretrained(tmp)
            (tmp / META_FILE).write_text(json.dumps(self.metadata(), indent=2) + "\n")
            if out.exists():
                # Move the old folder aside first so a crash never leaves `path` half-written.
                old = out.with_name(f".{out.name}.old-{uuid.uuid4().hex[:8]}")
                out.rename(old)
                tmp.rename(out)
                shutil.rmtree(old, ignore_errors=True)
            else:
                tmp.rename(out)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
        return out


def read_metadata(path: str | Path) -> dict[str, Any]:
    """The folder's ``reward_model.json``; one clear error when the folder is not a reward model."""
    meta_path = Path(path) / META_FILE
    try:
        meta = json.loads(meta_path.read_text())
    except (OSError, ValueError):
        meta = None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ConfigError(f"{path} is not a saved reward model (no valid {META_FILE})")
    return meta


def load_reward_model(path: str | Path, dtype: Optional[torch.dtype] = None):
    """``(model, tokenizer)`` rebuilt from a folder written by :meth:`TokenRewardModel.save`.

    The tokenizer is the folder's own (falling back to the backbone's when none was saved).
    """
    from transformers import AutoModel, AutoTokenizer

    folder = Path(path)
    meta = read_metadata(folder)
    kw = {"dtype": dtype} if dtype is not None else {}
    lora = None if meta["lora"] is None else LoraSettings(**meta["lora"])
    if lora is not None:
        from peft import PeftModel

        base = AutoModel.from_pretrained(meta["backbone"], **kw)
        backbone = PeftModel.from_pretrained(base, str(folder / "adapter"), is_trainable=True)
    else:
        backbone = AutoModel.from_pretrained(str(folder / "backbone"), **kw)
    model = TokenRewardModel(meta["backbone"], mode=meta["mode"], lora=lora, _backbone=backbone)
    head = load_file(str(folder / HEAD_FILE))
    model.head.load_state_dict({k: v.to(model.head.weight.dtype) for k, v in head.items()})
    tok_source = folder if (folder / "tokenizer_config.json").is_file() else meta["backbone"]
    tokenizer = AutoTokenizer.from_pretrained(str(tok_source))
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return model, tokenizer


def load_reward_weights(model: TokenRewardModel, path: str | Path) -> None:
    """Load a saved folder's trained weights (adapter or backbone, and head) into an existing model in place."""
    folder = Path(path)
    meta = read_metadata(folder)
    if (meta["lora"] is None) != (model.lora is None) or meta["hidden_size"] != model.hidden_size:
        raise ConfigError(f"{folder}: saved reward model does not match this one (lora or size differ)")
    if model.lora is not None:
        from peft import set_peft_model_state_dict

        set_peft_model_state_dict(model.backbone, load_file(str(folder / "adapter" / "adapter_model.safetensors")))
    else:
        from transformers import AutoModel

        model.backbone.load_state_dict(AutoModel.from_pretrained(str(folder / "backbone")).state_dict())
    head = load_file(str(folder / HEAD_FILE))
    model.head.load_state_dict({k: v.to(model.head.weight.dtype) for k, v in head.items()})
