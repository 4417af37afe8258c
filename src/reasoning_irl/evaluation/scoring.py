"""Per-POLICY-token rewards from a saved token reward model, batched.

Semantics are exactly those of the AIRL trainer (:meth:`Discriminator.token_rewards`):

* the reward-model input is the reward tokenizer's rendering of the prompt messages followed by
  the completion in the reward vocabulary, right-padded;
* shared tokenizer (same vocabulary): the policy's own completion ids are scored;
* otherwise the completion text is re-tokenised and each policy token takes the logit of the last
  reward token that ends within it (:mod:`reasoning_irl.training.token_alignment`); a completion
  that ended with the policy's end token gets the reward tokenizer's end token appended, and the
  policy end token is read there;
* reward ``t`` refers to policy token ``t`` itself (no shift); reward = logit / temperature,
  optionally clipped to ``[-clip, clip]``.

:func:`score_policy_tokens` sorts rows by length and pads each batch once; results come back in
input order. :func:`score_policy_tokens_loop` is the one-row-at-a-time reference (tests, bench).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Optional, Sequence

import torch

from reasoning_irl.data.prompts import render_prompt
from reasoning_irl.training.token_alignment import policy_alignment, same_tokenizer


@dataclass
class ScoringRow:
    """One reward-model input: ``ids`` (prompt + completion), where the completion starts, and the
    per-policy-token index into the completion part."""

    ids: list[int]
    start: int
    index: list[int]


def _pad_id(tokenizer: Any) -> int:
    return tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id


def build_rows(reward_tokenizer: Any, policy_tokenizer: Any, prompts: Sequence[list[dict]],
               completion_ids: Sequence[Sequence[int]]) -> list[ScoringRow]:
    """The reward-model input of every (prompt messages, policy completion ids) pair."""
    if len(prompts) != len(completion_ids):
        raise ValueError(f"{len(prompts)} prompts but {len(completion_ids)} completions")
    shared = same_tokenizer(policy_tokenizer, reward_tokenizer)
    cache: dict[str, list[int]] = {}
    rows = []
    for messages, ids in zip(prompts, completion_ids):
        key = json.dumps(messages, sort_keys=True)
        if key not in cache:
            cache[key] = reward_tokenizer(render_prompt(reward_tokenizer, messages), add_special_tokens=False)["input_ids"]
        prompt = cache[key]
        reward_ids, alignment = policy_alignment(policy_tokenizer, reward_tokenizer, ids, shared=shared)
        rows.append(ScoringRow(ids=list(prompt) + reward_ids, start=len(prompt), index=list(alignment.index)))
    return rows


def merged_for_inference(reward_model: Any) -> Any:
    """Fold a LoRA adapter into the backbone weights (in place; same function up to float rounding, and
    about twice as fast on small models). Only for inference: the model can no longer be trained or saved."""
    merge = getattr(getattr(reward_model, "backbone", None), "merge_and_unload", None)
    if callable(merge):
        reward_model.backbone = merge()
    return reward_model.eval()


def _device(model: Any) -> torch.device:
    return next(model.parameters()).device


def _finish(logits: torch.Tensor, row: ScoringRow, temperature: float, clip: Optional[float]) -> list[float]:
    """Per-policy-token rewards of one row from its (T,) logits."""
    if not row.index:
        return []
    index = torch.tensor(row.index, dtype=torch.long, device=logits.device)
    picked = logits[row.start + index.clamp(min=0)]
    rewards = torch.where(index >= 0, picked, torch.zeros_like(picked)) / temperature
    if clip is not None:
        rewards = rewards.clamp(-clip, clip)
    return rewards.float().cpu().tolist()


@torch.inference_mode()
def score_rows(reward_model: Any, rows: Sequence[ScoringRow], pad_id: int, temperature: float = 1.0,
               batch_size: int = 32, clip: Optional[float] = None) -> list[list[float]]:
    """Batched forward of prepared rows: longest first, right-padded once per batch, input order restored."""
    if temperature <= 0:
        raise ValueError(f"reward temperature must be > 0, got {temperature}")
    was_training = reward_model.training
    reward_model.eval()
    device = _device(reward_model)
    order = sorted(range(len(rows)), key=lambda i: -len(rows[i].ids))
    out: list[Optional[list[float]]] = [None] * len(rows)
    try:
        for b in range(0, len(order), max(1, batch_size)):
            chunk = order[b: b + batch_size]
            width = len(rows[chunk[0]].ids)
            ids = torch.full((len(chunk), width), pad_id, dtype=torch.long)
            mask = torch.zeros((len(chunk), width), dtype=torch.long)
            for j, i in enumerate(chunk):
                n = len(rows[i].ids)
                ids[j, :n] = torch.tensor(rows[i].ids, dtype=torch.long)
                mask[j, :n] = 1
            logits = reward_model(input_ids=ids.to(device), attention_mask=mask.to(device)).float()
            for j, i in enumerate(chunk):
                out[i] = _finish(logits[j], rows[i], temperature, clip)
    finally:
        if was_training:
            reward_model.train()
    return out  # type: ignore[return-value]


def score_policy_tokens(reward_model: Any, reward_tokenizer: Any, policy_tokenizer: Any,
                        prompts: Sequence[list[dict]], completion_ids: Sequence[Sequence[int]],
                        temperature: float = 1.0, batch_size: int = 32,
                        clip: Optional[float] = None) -> list[list[float]]:
    """``rewards[i][t]`` = reward of policy token ``t`` of completion ``i`` (``len == len(completion_ids[i])``).

    ``completion_ids`` hold real tokens only (no padding); an end token the policy generated is kept
    and scored like in training.
    """
    rows = build_rows(reward_tokenizer, policy_tokenizer, prompts, completion_ids)
    return score_rows(reward_model, rows, _pad_id(reward_tokenizer), temperature, batch_size, clip)


@torch.inference_mode()
def score_policy_tokens_loop(reward_model: Any, reward_tokenizer: Any, policy_tokenizer: Any,
                             prompts: Sequence[list[dict]], completion_ids: Sequence[Sequence[int]],
                             temperature: float = 1.0, clip: Optional[float] = None) -> list[list[float]]:
    """Reference: the same rewards computed one unpadded row at a time (slow; tests and benchmark)."""
    rows = build_rows(reward_tokenizer, policy_tokenizer, prompts, completion_ids)
    was_training = reward_model.training
    reward_model.eval()
    device = _device(reward_model)
    out = []
    for row in rows:
        ids = torch.tensor([row.ids], dtype=torch.long, device=device)
        logits = reward_model(input_ids=ids, attention_mask=torch.ones_like(ids)).float()
        out.append(_finish(logits[0], row, temperature, clip))
    if was_training:
        reward_model.train()
    return out


def token_texts(tokenizer: Any, ids: Sequence[int]) -> list[str]:
    """Decoded text of each token such that ``"".join(...) == decode(ids, skip_special_tokens=True)``.

    Single-token decoding first (fast); if that does not add up (a multi-byte character split across
    tokens) the exact incremental-prefix spans are used. Special tokens are "".
    """
    ids = [int(i) for i in ids]
    text = tokenizer.decode(ids, skip_special_tokens=True)
    special = set(getattr(tokenizer, "all_special_ids", []) or [])
    pieces = ["" if i in special else tokenizer.decode([i], skip_special_tokens=True) for i in ids]
    if "".join(pieces) == text:
        return pieces
    from reasoning_irl.training.token_alignment import policy_char_spans

    return [text[s:e] for s, e in policy_char_spans(tokenizer, ids)]


def char_spans(pieces: Sequence[str]) -> list[tuple[int, int]]:
    """``[start, end)`` character span of each token text in their concatenation."""
    spans, pos = [], 0
    for p in pieces:
        spans.append((pos, pos + len(p)))
        pos += len(p)
    return spans
