"""Token-level reward model (the AIRL discriminator): a causal LM backbone with a scalar head.

``forward`` gives one logit per position; because the backbone is causal, the logit at position
``t`` depends only on tokens ``<= t``, so it can be read as the reward of token ``t`` given its
prefix. Batches must be right-padded: Qwen2/Llama take positions from the sequence index, so left
padding would shift the positions of the real tokens.

With ``lm_prior`` the backbone keeps its LM head and a token's logit is ``log p(token | prefix)`` under
that head plus the scalar head's value, the scalar head starting at zero: the reward starts as the
backbone's log-density of the text (AIRL's optimal f is the expert's log-density, up to shaping) and
training moves both terms. A backbone SFT'd on expert traces then starts as a checker of the policy's
tokens instead of a random scorer. Position 0 of an input has no prediction and gets the head value only.

With ``implicit_prm_beta`` β (PRIME's implicit process reward, Cui et al. 2025) a token's logit is
``β (log p(token | prefix) - log p_ref(token | prefix))``, with ``p_ref`` a frozen copy of the backbone as it
was loaded and no scalar head, and a row's sequence score is the sum of its token logits (``β log p(y) /
p_ref(y)``, the outcome reward PRIME trains with cross-entropy). The reference is the saved ``backbone``
itself, so a saved folder needs that backbone where it was; rows never share a prompt's key/value cache (two
models read each prompt).

A saved reward model is a folder::

    reward_model.json   format marker + backbone (resolved: absolute folder or hub id), mode, lora settings,
                        hidden size, lm_prior, the prompt it was trained with, what plain transformers loads
    head.safetensors    the scalar head (weight, bias)
    config.json + model.safetensors, or adapter_config.json + adapter_model.safetensors (LoRA):
                        a standard transformers / PEFT checkpoint (:mod:`reasoning_irl.models.standard`)
    tokenizer files     with the chat template the prompts were rendered with

Folders written before that layout hold ``backbone/`` or ``adapter/`` instead; they still load.
"""

from __future__ import annotations

import copy
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
from reasoning_irl.models.loading import lora_targets
from reasoning_irl.models.saved_files import check_intact, check_weights_present
from reasoning_irl.models.standard import (
    adapter_state,
    check_found,
    full_backbone_dir,
    load_full_backbone,
    resolve_backbone,
    save_standard,
)

FORMAT = "reasoning_irl.token_reward_model"
META_FILE = "reward_model.json"
HEAD_FILE = "head.safetensors"
MODES = ("dense", "sparse")


class TokenRewardModel(nn.Module):
    """Backbone (``AutoModel``; ``AutoModelForCausalLM`` with ``lm_prior``) + optional LoRA +
    ``Linear(hidden, 1)`` on every position."""

    def __init__(
        self,
        backbone_name_or_path: str,
        mode: str = "dense",
        lora: Optional[LoraSettings] = None,
        dtype: Optional[torch.dtype] = None,
        _backbone: Optional[nn.Module] = None,
        lm_prior: bool = False,
        implicit_prm_beta: Optional[float] = None,
        _reference: Optional[nn.Module] = None,
    ):
        super().__init__()
        if mode not in MODES:
            raise ConfigError(f"reward model mode must be one of {MODES}, got {mode!r}")
        if implicit_prm_beta is not None and not (lm_prior and implicit_prm_beta > 0):
            raise ConfigError("an implicit process reward needs lm_prior (a causal LM backbone) and a beta > 0")
        self.backbone_name_or_path = str(backbone_name_or_path)  # as given; a save records it resolved
        self.mode = mode
        self.lora = lora
        self.lm_prior = bool(lm_prior)
        # {"system_prompt", "no_system"}: how questions were turned into chat messages in training (saved with it).
        self.prompt: Optional[dict[str, Any]] = None
        base = (
            _backbone
            if _backbone is not None
            else backbone_class(self.lm_prior).from_pretrained(
                self.backbone_name_or_path, **({"dtype": dtype} if dtype is not None else {})
            )
        )
        self.hidden_size = int(base.config.hidden_size)
        self.implicit_prm_beta = None if implicit_prm_beta is None else float(implicit_prm_beta)
        self.reference: Optional[nn.Module] = None
        if self.implicit_prm_beta is not None:
            # Copied before LoRA wraps the backbone: p_ref is the backbone as loaded, never trained.
            self.reference = _reference if _reference is not None else copy.deepcopy(base)
            self.reference.requires_grad_(False)
            self.reference.eval()
        if lora is not None and _backbone is None:
            from peft import LoraConfig, get_peft_model

            cfg = LoraConfig(
                r=lora.r,
                lora_alpha=lora.alpha,
                lora_dropout=lora.dropout,
                target_modules=lora_targets(base, list(lora.target_modules), "reward_model.lora"),
            )
            base = get_peft_model(base, cfg)
        self.backbone = base
        # float32 whatever the backbone's dtype: it is trained, and AdamW steps of ~lr on a bf16 weight of ~0.03
        # round away (PEFT keeps LoRA weights in float32 for the same reason). Hidden states are cast up to it.
        self.head = nn.Linear(self.hidden_size, 1)
        if self.lm_prior:  # f = log p(token | prefix) at the start
            nn.init.zeros_(self.head.weight)
            nn.init.zeros_(self.head.bias)
        if self.implicit_prm_beta is not None:
            self.head.requires_grad_(False)  # unused: the implicit reward is the log-ratio alone

    def train(self, mode: bool = True) -> TokenRewardModel:
        super().train(mode)
        if self.reference is not None:
            self.reference.eval()  # frozen: no dropout in p_ref whatever the trained side does
        return self

    def forward(
        self,
        input_ids: Optional[torch.Tensor] = None,
        attention_mask: Optional[torch.Tensor] = None,
        inputs_embeds: Optional[torch.Tensor] = None,
        **backbone_kwargs: Any,
    ) -> torch.Tensor:
        """Token logits ``(B, T)``; position ``t`` has seen tokens ``<= t`` only.

        ``inputs_embeds`` replaces ``input_ids`` (the WGAN gradient penalty differentiates w.r.t. them; not
        with ``lm_prior``, whose log-density term needs the token ids). ``backbone_kwargs`` (``past_key_values``,
        ``position_ids``, ``use_cache``) go to the backbone: batched scoring runs a prompt shared by several
        completions once and continues each from its key/value cache.
        """
        if not self.lm_prior:
            out = self.backbone(
                input_ids=input_ids, attention_mask=attention_mask, inputs_embeds=inputs_embeds, **backbone_kwargs
            )
            return self.head(out.last_hidden_state.to(self.head.weight.dtype)).squeeze(-1)
        if input_ids is None:
            raise ValueError("a reward model with lm_prior scores token ids (input_ids), not inputs_embeds")
        if self.reference is not None:
            if backbone_kwargs.get("past_key_values") is not None:
                raise ValueError("an implicit process reward scores whole rows (its reference has no prompt cache)")
            logps = next_token_logps(
                self.backbone(input_ids=input_ids, attention_mask=attention_mask).logits, input_ids
            )
            with torch.no_grad():
                ref = next_token_logps(
                    self.reference(input_ids=input_ids, attention_mask=attention_mask).logits, input_ids
                )
            return self.implicit_prm_beta * (logps - ref)
        out = self.backbone(
            input_ids=input_ids, attention_mask=attention_mask, output_hidden_states=True, **backbone_kwargs
        )
        scores = self.head(out.hidden_states[-1].to(self.head.weight.dtype)).squeeze(-1)
        return scores + next_token_logps(out.logits, input_ids).to(scores.dtype)

    def fill_cache(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, past_key_values: Any) -> None:
        """Run a prefix through the backbone only, to fill ``past_key_values``: the prompt pass of batched
        scoring discards the scores, so neither head runs (with ``lm_prior`` one position is projected)."""
        extra = {"logits_to_keep": 1} if self.lm_prior else {}
        self.backbone(
            input_ids=input_ids, attention_mask=attention_mask, past_key_values=past_key_values, use_cache=True, **extra
        )

    def sequence_scores(
        self, token_logits: torch.Tensor, completion_mask: torch.Tensor, mode: Optional[str] = None
    ) -> torch.Tensor:
        """One score per row, from the completion tokens only (``completion_mask`` 1 there).

        With an implicit process reward: the sum of the completion's token logits, whatever ``mode``.
        ``dense``: the mean logit over completion tokens (every token's reward counts equally,
        whatever the completion length). ``sparse``: the logit of the last completion token
        (which has seen the whole completion). A row without completion tokens scores 0.
        """
        mode = mode or self.mode
        mask = completion_mask.to(token_logits.dtype)
        count = mask.sum(-1)
        if self.implicit_prm_beta is not None:  # PRIME's outcome reward: beta log p(y) / p_ref(y), a sum
            return (token_logits * mask).sum(-1)
        if mode == "dense":
            return (token_logits * mask).sum(-1) / count.clamp(min=1)
        if mode == "sparse":
            positions = torch.arange(mask.shape[-1], device=mask.device)
            last = (completion_mask.bool() * (positions + 1)).argmax(-1)  # largest masked position
            picked = token_logits.gather(-1, last.unsqueeze(-1)).squeeze(-1)
            return torch.where(count > 0, picked, torch.zeros_like(picked))
        raise ConfigError(f"reward model mode must be one of {MODES}, got {mode!r}")

    def metadata(self) -> dict[str, Any]:
        lora = (
            None
            if self.lora is None
            else {
                "r": self.lora.r,
                "alpha": self.lora.alpha,
                "dropout": self.lora.dropout,
                "target_modules": list(self.lora.target_modules),
            }
        )
        return {
            "format": FORMAT,
            "version": 2,
            "backbone": resolve_backbone(self.backbone_name_or_path),
            "backbone_as_given": self.backbone_name_or_path,
            "mode": self.mode,
            "lora": lora,
            "hidden_size": self.hidden_size,
            "lm_prior": self.lm_prior,
            "implicit_prm_beta": self.implicit_prm_beta,
            "model_type": getattr(self.backbone.config, "model_type", None),
            "prompt": self.prompt,
        }

    def save(self, path: str | Path, tokenizer: Any = None) -> Path:
        """Write the folder atomically: build it in a temp sibling, then rename over ``path``."""
        out = Path(path)
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name(f".{out.name}.tmp-{uuid.uuid4().hex[:8]}")
        try:
            tmp.mkdir()
            standard = save_standard(self, tmp)
            save_file({k: v.detach().contiguous().cpu() for k, v in self.head.state_dict().items()}, tmp / HEAD_FILE)
            if tokenizer is not None:
                tokenizer.save_pretrained(tmp)
            (tmp / META_FILE).write_text(json.dumps({**self.metadata(), "transformers": standard}, indent=2) + "\n")
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


def backbone_class(lm_prior: bool):
    """The transformers auto class a backbone loads with: the causal LM (LM head kept) for ``lm_prior``."""
    from transformers import AutoModel, AutoModelForCausalLM

    return AutoModelForCausalLM if lm_prior else AutoModel


def next_token_logps(lm_logits: torch.Tensor, input_ids: torch.Tensor) -> torch.Tensor:
    """``(B, T)``: position ``t`` holds ``log p(input_ids[t] | input_ids[<t])`` from the logits at ``t - 1``;
    position 0 (no prediction) holds 0. Computed as gather minus logsumexp, in float32."""
    logits = lm_logits[:, :-1].float()
    picked = logits.gather(-1, input_ids[:, 1:, None]).squeeze(-1) - torch.logsumexp(logits, dim=-1)
    return torch.cat([picked.new_zeros(picked.shape[0], 1), picked], dim=1)


def read_metadata(path: str | Path) -> dict[str, Any]:
    """The folder's ``reward_model.json``; one clear error when the folder is not a reward model."""
    meta_path = Path(path) / META_FILE
    try:
        meta = json.loads(meta_path.read_text())
    except (OSError, ValueError):
        meta = None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ConfigError(f"{path} is not a saved reward model (no valid {META_FILE})")
    meta.setdefault("lm_prior", False)  # folders written before the option have none
    # Before any weights load: a missing, damaged or pickled weight file is named in one line.
    advice = "this reward model cannot be loaded: save or train it again, or use another one"
    check_weights_present(Path(path), weight_layouts(meta), advice)
    check_intact(Path(path), advice)
    return meta


def weight_layouts(meta: dict[str, Any]) -> list[list[str]]:
    """The files that together hold a saved reward model's weights, for each layout it may have been saved in
    (the current one first, then the ``adapter/`` / ``backbone/`` folders of older saves)."""
    if meta.get("lora") is not None:
        return [[f"{prefix}adapter_model.safetensors", HEAD_FILE] for prefix in ("", "adapter/")]
    return [
        [f"{prefix}{name}", HEAD_FILE]
        for prefix in ("", "backbone/")
        for name in ("model.safetensors", "model.safetensors.index.json")
    ]


def check_backbone_fits(folder: Path, meta: dict[str, Any], backbone: str) -> None:
    """Refuse, in one line naming what differs, a backbone the saved head and adapter were not trained on
    (its config is read before any weights, which would otherwise fail in a shape-mismatch traceback)."""
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(backbone)
    saved_type, hidden = meta.get("model_type"), getattr(config, "hidden_size", None)
    if saved_type and saved_type != config.model_type:
        raise ConfigError(
            f"{folder}: trained on a {saved_type} backbone, but {backbone} is a {config.model_type} "
            "(architecture differs)"
        )
    if meta.get("hidden_size") != hidden:
        raise ConfigError(
            f"{folder}: the head takes hidden_size {meta.get('hidden_size')}, but backbone {backbone} "
            f"has hidden_size {hidden}"
        )


def load_reward_model(path: str | Path, dtype: Optional[torch.dtype] = None):
    """``(model, tokenizer)`` rebuilt from a folder written by :meth:`TokenRewardModel.save`.

    The tokenizer is the folder's own (falling back to the backbone's when none was saved).
    """
    from transformers import AutoTokenizer

    folder = Path(path)
    meta = read_metadata(folder)
    kw = {"dtype": dtype} if dtype is not None else {}
    lora = None if meta["lora"] is None else LoraSettings(**meta["lora"])
    lm_prior = bool(meta["lm_prior"])
    auto = backbone_class(lm_prior)
    if lora is not None:
        check_found(folder, meta["backbone"])
    check_backbone_fits(folder, meta, str(full_backbone_dir(folder)) if lora is None else meta["backbone"])
    if lora is not None:
        from peft import LoraConfig, get_peft_model, set_peft_model_state_dict

        base = auto.from_pretrained(meta["backbone"], **kw)
        targets = lora_targets(base, list(lora.target_modules), "reward_model.lora")
        backbone = get_peft_model(
            base, LoraConfig(r=lora.r, lora_alpha=lora.alpha, lora_dropout=lora.dropout, target_modules=targets)
        )
        set_peft_model_state_dict(backbone, adapter_state(folder, meta))
    else:
        backbone = load_full_backbone(folder, meta, auto, **kw)
    beta = meta.get("implicit_prm_beta")
    reference = None
    if beta is not None:  # p_ref: the backbone the reward was trained from, as it was before training
        check_found(folder, meta["backbone"])
        reference = auto.from_pretrained(meta["backbone"], **kw)
    model = TokenRewardModel(
        meta["backbone"],
        mode=meta["mode"],
        lora=lora,
        _backbone=backbone,
        lm_prior=lm_prior,
        implicit_prm_beta=beta,
        _reference=reference,
    )
    model.prompt = meta.get("prompt")
    head = load_file(str(folder / HEAD_FILE))
    width = head["weight"].shape[-1] if "weight" in head else None
    if width != model.hidden_size:
        raise ConfigError(f"{folder}: {HEAD_FILE} takes hidden_size {width} but the backbone has {model.hidden_size}")
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
    if (
        (meta["lora"] is None) != (model.lora is None)
        or meta["hidden_size"] != model.hidden_size
        or bool(meta["lm_prior"]) != model.lm_prior
        or meta.get("implicit_prm_beta") != model.implicit_prm_beta
    ):
        raise ConfigError(
            f"{folder}: saved reward model does not match this one (lora, size, lm_prior or implicit_prm_beta differ)"
        )
    if model.lora is not None:
        from peft import set_peft_model_state_dict

        set_peft_model_state_dict(model.backbone, adapter_state(folder, meta))
    else:
        saved = load_full_backbone(folder, meta, backbone_class(model.lm_prior))
        model.backbone.load_state_dict(saved.state_dict())
    head = load_file(str(folder / HEAD_FILE))
    model.head.load_state_dict({k: v.to(model.head.weight.dtype) for k, v in head.items()})
