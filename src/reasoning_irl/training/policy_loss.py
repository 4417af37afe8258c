"""The policy-gradient loss of our GRPO trainers, owned here so no library patch can replace it.

Per token: the PPO-style clipped surrogate ``-min(ρ·A, clip(ρ, 1-ε_low, 1+ε_high)·A)`` with
``ρ = exp(logp - logp_old)``, plus ``β·KL`` (the k3 estimator ``exp(r) - r - 1`` with
``r = logp_ref - logp``). ``A`` may be one value per sequence (B,) or per token (B, T).
Aggregations (a registry; one function + one line to add one):

- ``grpo``: mean over each sequence's tokens, then over sequences;
- ``bnpo``: mean over all tokens of the batch;
- ``dr_grpo``: sum over tokens / (B · max_completion_length) (no length bias).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Optional

import torch

from reasoning_irl.models.prefix_cache import shared_prompt_forward
from reasoning_irl.registry import Registry

LossAggregation = Callable[[torch.Tensor, torch.Tensor, int], torch.Tensor]
POLICY_LOSSES: Registry[LossAggregation] = Registry("policy loss")


@POLICY_LOSSES.register("grpo")
def sequence_mean(per_token: torch.Tensor, mask: torch.Tensor, max_completion_length: int) -> torch.Tensor:
    return ((per_token * mask).sum(-1) / mask.sum(-1).clamp(min=1.0)).mean()


@POLICY_LOSSES.register("bnpo")
def token_mean(per_token: torch.Tensor, mask: torch.Tensor, max_completion_length: int) -> torch.Tensor:
    return (per_token * mask).sum() / mask.sum().clamp(min=1.0)


@POLICY_LOSSES.register("dr_grpo")
def fixed_length_sum(per_token: torch.Tensor, mask: torch.Tensor, max_completion_length: int) -> torch.Tensor:
    return (per_token * mask).sum() / (per_token.size(0) * max_completion_length)


@dataclass
class PolicyLossOutput:
    loss: torch.Tensor
    kl: Optional[torch.Tensor]
    """Masked mean KL to the reference (None when β = 0)."""
    clip_fraction: torch.Tensor
    """Fraction of tokens whose ratio was clipped in the direction that matters."""


def k3_kl(logps: torch.Tensor, ref_logps: torch.Tensor) -> torch.Tensor:
    """Per-token unbiased, non-negative KL(π‖π_ref) estimate."""
    delta = ref_logps - logps
    return torch.exp(delta) - delta - 1


def clipped_policy_loss(
    logps: torch.Tensor,
    old_logps: torch.Tensor,
    advantages: torch.Tensor,
    mask: torch.Tensor,
    *,
    epsilon_low: float = 0.2,
    epsilon_high: float = 0.2,
    beta: float = 0.0,
    ref_logps: Optional[torch.Tensor] = None,
    loss_type: str = "grpo",
    max_completion_length: int = 1,
    importance_weights: Optional[torch.Tensor] = None,
) -> PolicyLossOutput:
    """The clipped surrogate + β·KL, aggregated by ``loss_type`` (see module doc).

    ``importance_weights`` ((B, T) or (B, 1)) multiply the surrogate, not the KL: TRL's correction for
    completions sampled by vLLM, whose log-probs differ slightly from the trained model's.
    """
    if advantages.dim() == 1:
        advantages = advantages.unsqueeze(1)
    valid = mask.bool()
    mask = mask.to(logps.dtype)
    # Log-ratios are zeroed at padding *before* exp: TRL scores padding as logp 0 while ours are real
    # (possibly very negative) values, and exp(large) = inf would turn `inf * 0` into a NaN loss and gradient.
    ratio = torch.exp((logps - old_logps).masked_fill(~valid, 0.0))
    clipped = torch.clamp(ratio, 1 - epsilon_low, 1 + epsilon_high)
    per_token = -torch.min(ratio * advantages, clipped * advantages)
    if importance_weights is not None:
        per_token = per_token * importance_weights
    kl = None
    if beta != 0.0:
        if ref_logps is None:
            raise ValueError("beta != 0 needs reference log-probabilities")
        per_token_kl = k3_kl(logps.masked_fill(~valid, 0.0), ref_logps.masked_fill(~valid, 0.0))
        per_token = per_token + beta * per_token_kl
        kl = (per_token_kl * mask).sum() / mask.sum().clamp(min=1.0)
    is_clipped = ((ratio < 1 - epsilon_low) & (advantages < 0)) | ((ratio > 1 + epsilon_high) & (advantages > 0))
    clip_fraction = (is_clipped.to(mask.dtype) * mask).sum() / mask.sum().clamp(min=1.0)
    # Padding may carry anything (e.g. NaN per-token advantages from a subclass); it must not reach the sum.
    per_token = per_token.masked_fill(~valid, 0.0)
    loss = POLICY_LOSSES.get(loss_type)(per_token, mask, max_completion_length)
    return PolicyLossOutput(loss=loss, kl=kl, clip_fraction=clip_fraction)


def completion_logps(
    model: torch.nn.Module,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    n_completion: int,
    temperature: float = 1.0,
) -> torch.Tensor:
    """Log-probabilities (B, n_completion) of the last ``n_completion`` tokens under ``model``.

    Logits at position t predict token t+1, so the slice is shifted by one; only the last
    ``n_completion + 1`` positions are projected to the vocabulary (``logits_to_keep``), and rows are
    reduced one at a time to keep the full-vocabulary float32 softmax small.
    """
    logits = model(
        input_ids=input_ids, attention_mask=attention_mask, use_cache=False, logits_to_keep=n_completion + 1
    ).logits
    logits = logits[:, -n_completion - 1 : -1, :]
    targets = input_ids[:, -n_completion:]
    rows = []
    for row_logits, row_targets in zip(logits, targets):
        row_logits = row_logits.float() / temperature
        picked = row_logits.gather(-1, row_targets.unsqueeze(-1)).squeeze(-1)
        rows.append(picked - torch.logsumexp(row_logits, dim=-1))
    return torch.stack(rows)


@torch.no_grad()
def batch_completion_logps(
    model: torch.nn.Module, batch: dict[str, torch.Tensor], chunk: int, temperature: float = 1.0
) -> torch.Tensor:
    """(B, T) float32 log-probabilities of a GRPO batch's completion tokens (``prompt_ids``/``prompt_mask`` left-
    padded, ``completion_ids``/``completion_mask`` right-padded) under ``model``, ``chunk`` rows a forward pass."""
    ids = torch.cat([batch["prompt_ids"], batch["completion_ids"]], 1)
    mask = torch.cat([batch["prompt_mask"], batch["completion_mask"]], 1)
    width = batch["completion_ids"].size(1)
    parts = [
        completion_logps(model, ids[i : i + chunk], mask[i : i + chunk], width, temperature).float()
        for i in range(0, ids.size(0), chunk)
    ]
    return torch.cat(parts)


def shared_prompt_logps(
    model: torch.nn.Module,
    prompts: Sequence[Sequence[int]],
    completions: Sequence[Sequence[int]],
    pad_id: int,
    temperature: float = 1.0,
) -> list[torch.Tensor]:
    """Log-probabilities (one ``(len(completion),)`` tensor per row) of each completion after its prompt, each
    distinct prompt run once and every row continued from its cache (:mod:`reasoning_irl.models.prefix_cache`):
    :func:`completion_logps` of the whole rows, up to float rounding, without repeating shared prompts."""
    device = next(model.parameters()).device

    def fill(ids: torch.Tensor, mask: torch.Tensor, cache: Any) -> None:
        model(input_ids=ids, attention_mask=mask, past_key_values=cache, use_cache=True, logits_to_keep=1)

    logits = shared_prompt_forward(lambda **inputs: model(**inputs).logits, fill, prompts, completions, pad_id, device)
    out = []
    for row_logits, completion in zip(logits, completions):  # column j predicts completion token j
        row = row_logits[: len(completion)].float() / temperature
        target = torch.tensor(list(completion), dtype=torch.long, device=device)
        out.append(row.gather(-1, target[:, None]).squeeze(-1) - torch.logsumexp(row, dim=-1))
    return out
