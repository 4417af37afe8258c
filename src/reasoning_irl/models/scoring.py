"""Per-POLICY-token rewards from a saved token reward model, batched.

Semantics are exactly those of the AIRL trainer (:meth:`Discriminator.token_rewards`):

* the reward-model input is the reward tokenizer's rendering of the prompt messages followed by
  the completion in the reward vocabulary, right-padded;
* shared tokenizer (same vocabulary): the policy's own completion ids are scored;
* otherwise the completion text is re-tokenised and each policy token takes the logit of the last
  reward token that ends within it (:mod:`reasoning_irl.models.token_alignment`); a completion
  that ended with the policy's end token gets the reward tokenizer's end token appended, and the
  policy end token is read there;
* reward ``t`` refers to policy token ``t`` itself (no shift); reward = logit / temperature,
  optionally clipped to ``[-clip, clip]``.

:func:`score_policy_tokens` batches: a prompt shared by several rows (the N samples of a problem) runs
once and its completions continue from its key/value cache; other rows are sorted by length and padded
once per batch. Results come back in input order. :func:`score_policy_tokens_loop` is the
one-row-at-a-time reference (tests, bench).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Optional

import torch

from reasoning_irl.data.prompts import render_prompt
from reasoning_irl.models.loading import padding_id
from reasoning_irl.models.prefix_cache import can_share_prompts, continuation, fill_prompt_cache, padded
from reasoning_irl.models.reward_model import TokenRewardModel
from reasoning_irl.models.token_alignment import policy_alignment, policy_char_spans, same_tokenizer


@dataclass
class ScoringRow:
    """One reward-model input: ``ids`` (prompt + completion), where the completion starts, and the
    per-policy-token index into the completion part."""

    ids: list[int]
    start: int
    index: list[int]


def cached_prompt_ids(tokenizer: Any, messages: list[dict[str, str]], cache: dict[str, list[int]]) -> list[int]:
    """Token ids of ``messages`` rendered through ``tokenizer``'s chat template, memoised in ``cache``: the
    samples of one problem share a prompt, and rendering a chat template costs more than scoring a short row."""
    key = json.dumps(messages, sort_keys=True)
    if key not in cache:
        cache[key] = tokenizer(render_prompt(tokenizer, messages), add_special_tokens=False)["input_ids"]
    return cache[key]


def build_rows(
    reward_tokenizer: Any, policy_tokenizer: Any, prompts: Sequence[list[dict]], completion_ids: Sequence[Sequence[int]]
) -> list[ScoringRow]:
    """The reward-model input of every (prompt messages, policy completion ids) pair."""
    if len(prompts) != len(completion_ids):
        raise ValueError(f"{len(prompts)} prompts but {len(completion_ids)} completions")
    shared = same_tokenizer(policy_tokenizer, reward_tokenizer)
    cache: dict[str, list[int]] = {}
    rows = []
    for messages, ids in zip(prompts, completion_ids):
        prompt = cached_prompt_ids(reward_tokenizer, messages, cache)
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


def _rewards(
    logits: torch.Tensor, rows: Sequence[ScoringRow], offsets: Sequence[int], temperature: float, clip: Optional[float]
) -> list[list[float]]:
    """Per-policy-token rewards of ``rows`` from their ``(B, W)`` logits with one gather and one ``tolist``
    (per-row tensor ops cost more than the gather); row ``j``'s completion starts at column ``offsets[j]``;
    index -1 (padding) gives 0. A row without completion tokens only has -1s: its read is clamped in range."""
    width = logits.shape[1]
    flat = [
        j * width + min(off + max(k, 0), width - 1)
        for j, (row, off) in enumerate(zip(rows, offsets))
        for k in row.index
    ]
    if not flat:
        return [[] for _ in rows]
    values = logits.reshape(-1)[torch.tensor(flat, device=logits.device)] / temperature
    if clip is not None:
        values = values.clamp(-clip, clip)
    picked, out, k = values.float().cpu().tolist(), [], 0
    for row in rows:
        out.append([v if i >= 0 else 0.0 for i, v in zip(row.index, picked[k : k + len(row.index)])])
        k += len(row.index)
    return out


def _score_full(
    model: Any, rows: Sequence[ScoringRow], order: list[int], pad_id: int, batch_size: int, score: Any
) -> None:
    """Whole rows, longest first, right-padded once per batch."""
    device = _device(model)
    order = sorted(order, key=lambda i: -len(rows[i].ids))
    for b in range(0, len(order), batch_size):
        chunk = order[b : b + batch_size]
        ids, mask = padded([rows[i].ids for i in chunk], pad_id)
        logits = model(input_ids=ids.to(device), attention_mask=mask.to(device)).float()
        score(chunk, logits, [rows[i].start for i in chunk])


def _score_shared(
    model: Any, rows: Sequence[ScoringRow], groups: dict[tuple, list[int]], pad_id: int, batch_size: int, score: Any
) -> None:
    """Rows grouped by prompt: each prompt runs once (``batch_size`` prompts a batch, kept as a key/value cache);
    its completions then continue from that cache in length-sorted batches of ``batch_size`` rows -- the same
    logits as the whole rows, minus the repeats (:mod:`reasoning_irl.models.prefix_cache`)."""
    device = _device(model)
    inner = getattr(model, "module", model)  # DDP-wrapped in training
    prompts = sorted(groups, key=len, reverse=True)
    for p in range(0, len(prompts), batch_size):
        chunk = prompts[p : p + batch_size]
        kv = fill_prompt_cache(inner.fill_cache, chunk, pad_id, device)
        members = sorted(
            ((j, i) for j, key in enumerate(chunk) for i in groups[key]),
            key=lambda m: rows[m[1]].start - len(rows[m[1]].ids),
        )
        for b in range(0, len(members), batch_size):
            part = members[b : b + batch_size]
            batch = [rows[i] for _, i in part]
            if len(batch[0].ids) == batch[0].start:  # longest first: no completion tokens in this batch
                score([i for _, i in part], torch.zeros((len(part), 1)), [0] * len(part))
                continue
            inputs = continuation(
                kv, [j for j, _ in part], [r.ids[: r.start] for r in batch], [r.ids[r.start :] for r in batch], pad_id
            )
            logits = model(**inputs.inputs()).float()
            score([i for _, i in part], logits, [1] * len(part))


@torch.inference_mode()
def score_rows(
    reward_model: Any,
    rows: Sequence[ScoringRow],
    pad_id: int,
    temperature: float = 1.0,
    batch_size: int = 32,
    clip: Optional[float] = None,
    share_prompts: bool = True,
    progress: bool = False,
) -> list[list[float]]:
    """Batched rewards of prepared rows, in input order; every forward holds at most ``batch_size`` rows.

    Rows that share a prompt (N samples of one problem) run it once when ``share_prompts`` and the model
    allows it; the others are scored as whole padded rows. Both give the loop's rewards up to float rounding.
    ``progress``: a tqdm bar of rows scored (off by default: training calls this every step).
    """
    from tqdm.auto import tqdm

    if temperature <= 0:
        raise ValueError(f"reward temperature must be > 0, got {temperature}")
    batch_size = max(1, batch_size)
    out: list[Optional[list[float]]] = [None] * len(rows)
    bar = tqdm(total=len(rows), desc="reward scoring", unit="row", disable=not progress)

    def score(indices: list[int], logits: torch.Tensor, offsets: list[int]) -> None:
        for i, values in zip(indices, _rewards(logits, [rows[i] for i in indices], offsets, temperature, clip)):
            out[i] = values
        bar.update(len(indices))

    groups: dict[tuple, list[int]] = {}
    if (
        share_prompts
        and isinstance(getattr(reward_model, "module", reward_model), TokenRewardModel)
        and can_share_prompts(reward_model)
    ):
        for i, row in enumerate(rows):
            if row.start >= 2:  # the cache holds the prompt minus its last token
                groups.setdefault(tuple(row.ids[: row.start]), []).append(i)
        groups = {key: members for key, members in groups.items() if len(members) > 1}
    shared = {i for members in groups.values() for i in members}
    was_training = reward_model.training
    reward_model.eval()
    try:
        if groups:
            _score_shared(reward_model, rows, groups, pad_id, batch_size, score)
        rest = [i for i in range(len(rows)) if i not in shared]
        if rest:
            _score_full(reward_model, rows, rest, pad_id, batch_size, score)
    finally:
        bar.close()
        if was_training:
            reward_model.train()
    return out  # type: ignore[return-value]


def score_policy_tokens(
    reward_model: Any,
    reward_tokenizer: Any,
    policy_tokenizer: Any,
    prompts: Sequence[list[dict]],
    completion_ids: Sequence[Sequence[int]],
    temperature: float = 1.0,
    batch_size: int = 32,
    clip: Optional[float] = None,
    share_prompts: bool = True,
    progress: bool = False,
) -> list[list[float]]:
    """``rewards[i][t]`` = reward of policy token ``t`` of completion ``i`` (``len == len(completion_ids[i])``).

    ``completion_ids`` hold real tokens only (no padding); an end token the policy generated is kept
    and scored like in training.
    """
    rows = build_rows(reward_tokenizer, policy_tokenizer, prompts, completion_ids)
    return score_rows(
        reward_model, rows, padding_id(reward_tokenizer), temperature, batch_size, clip, share_prompts, progress
    )


@torch.inference_mode()
def score_policy_tokens_loop(
    reward_model: Any,
    reward_tokenizer: Any,
    policy_tokenizer: Any,
    prompts: Sequence[list[dict]],
    completion_ids: Sequence[Sequence[int]],
    temperature: float = 1.0,
    clip: Optional[float] = None,
) -> list[list[float]]:
    """Reference: the same rewards computed one unpadded row at a time (slow; tests and benchmark)."""
    rows = build_rows(reward_tokenizer, policy_tokenizer, prompts, completion_ids)
    was_training = reward_model.training
    reward_model.eval()
    device = _device(reward_model)
    out = []
    for row in rows:
        ids = torch.tensor([row.ids], dtype=torch.long, device=device)
        logits = reward_model(input_ids=ids, attention_mask=torch.ones_like(ids)).float()
        out.extend(_rewards(logits, [row], [row.start], temperature, clip))
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
    return [text[s:e] for s, e in policy_char_spans(tokenizer, ids)]


def char_spans(pieces: Sequence[str]) -> list[tuple[int, int]]:
    """``[start, end)`` character span of each token text in their concatenation."""
    spans, pos = [], 0
    for p in pieces:
        spans.append((pos, pos + len(p)))
        pos += len(p)
    return spans
