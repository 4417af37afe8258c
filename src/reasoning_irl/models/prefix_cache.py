"""A prompt shared by several rows, run once: its key/value cache, copied per row, and each row's continuation.

The N samples of a problem (and, in AIRL, its expert trace and perturbed copies) share one prompt, which is
often longer than the completions. Running that prompt once and continuing every row from its cache gives the
same outputs as running the whole rows, minus the repeats; with gradients on, the prompt's share of the
gradient flows back through the copied cache. Used by batched reward scoring, by the discriminator's update and
by the policy log-probabilities the structured discriminator subtracts.

A continuation starts one token early, at the prompt's last token (its cache slot is masked out), so column 0
of a continuation's output belongs to that token and the completion's token ``j`` is column ``j + 1``: a model
whose token score reads the previous position's prediction (a causal LM's next-token log-probability) sees it
for the first completion token too.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch


def padded(
    seqs: Sequence[Sequence[int]], pad_id: int, side: str = "right", device: Any = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(ids, mask)`` of token lists padded on ``side``, built with one tensor call each (not one per row).
    Right padding for the reward model (its backbones take positions from the index); left for a policy's
    prompts, so that its completions start in one column."""
    width = max(map(len, seqs))
    lengths = torch.tensor([len(s) for s in seqs])[:, None]
    if side == "right":
        ids = torch.tensor([list(s) + [pad_id] * (width - len(s)) for s in seqs], dtype=torch.long)
        mask = (torch.arange(width) < lengths).long()
    elif side == "left":
        ids = torch.tensor([[pad_id] * (width - len(s)) + list(s) for s in seqs], dtype=torch.long)
        mask = (torch.arange(width) >= width - lengths).long()
    else:
        raise ValueError(f"side must be 'right' or 'left', got {side!r}")
    return ids.to(device), mask.to(device)


def unpadded(ids: torch.Tensor, mask: torch.Tensor) -> list[list[int]]:
    """The token lists of padded rows (the inverse of :func:`padded`)."""
    return [row[m.bool()].tolist() for row, m in zip(ids, mask)]


def can_share_prompts(model: Any) -> bool:
    """Whether every attention layer of ``model`` (a causal LM, a PEFT wrapper of one, or a token reward model
    holding one as ``backbone``; DDP-wrapped or not) sees the whole prefix, so that a prompt's cache is valid
    for every continuation (a sliding window would cut it), and the model fills a cache now (not a gradient-
    checkpointed model in training mode). Checked at every call: the mode changes."""
    inner = getattr(model, "module", model)
    if getattr(inner, "reference", None) is not None:  # an implicit process reward: two models read each prompt
        return False
    config = getattr(getattr(inner, "backbone", inner), "config", None)
    if config is None or not hasattr(config, "num_hidden_layers"):
        return False
    types = getattr(config, "layer_types", None) or ["full_attention"]
    # A checkpointed model in training mode keeps no cache (transformers turns use_cache off there).
    checkpointed = inner.training and any(getattr(m, "gradient_checkpointing", False) is True for m in inner.modules())
    return all(t == "full_attention" for t in types) and not checkpointed


def worth_sharing(model: Any, prompts: Sequence[Sequence[int]]) -> bool:
    """Whether rows should run their prompts once: some prompt repeats, every prompt has a token before its last
    (a continuation starts at the last one) and the model keeps a valid cache (:func:`can_share_prompts`)."""
    return len(prompt_groups(prompts)) < len(prompts) and min(map(len, prompts)) >= 2 and can_share_prompts(model)


def prompt_groups(prompts: Sequence[Sequence[int]]) -> dict[tuple[int, ...], list[int]]:
    """Row indices by prompt, in order of first appearance."""
    groups: dict[tuple[int, ...], list[int]] = {}
    for i, prompt in enumerate(prompts):
        groups.setdefault(tuple(prompt), []).append(i)
    return groups


def fill_prompt_cache(
    fill: Callable[[torch.Tensor, torch.Tensor, Any], None], prompts: Sequence[Sequence[int]], pad_id: int, device: Any
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Each layer's (keys, values) of the right-padded ``prompts``, computed by ``fill(ids, mask, cache)`` (a
    forward pass that writes a ``DynamicCache``). Padding slots are never read: continuations mask them out."""
    from transformers import DynamicCache  # here: the config checks import this module's users, not transformers

    ids, mask = padded(prompts, pad_id, device=device)
    cache = DynamicCache()
    fill(ids, mask, cache)
    return [(layer.keys, layer.values) for layer in cache.layers]


@dataclass
class Continuation:
    """The inputs that continue each row from its prompt's cache (keyword arguments of a causal LM's forward)."""

    input_ids: torch.Tensor
    """(B, W): the prompt's last token, then the completion, right-padded."""
    attention_mask: torch.Tensor
    """(B, cached + W): the row's own prompt slots (minus the last token), then its tail."""
    position_ids: torch.Tensor
    past_key_values: Any

    def inputs(self) -> dict[str, Any]:
        return {
            "input_ids": self.input_ids,
            "attention_mask": self.attention_mask,
            "position_ids": self.position_ids,
            "past_key_values": self.past_key_values,
            "use_cache": True,
        }


def continuation(
    kv: list[tuple[torch.Tensor, torch.Tensor]],
    owners: Sequence[int],
    prompts: Sequence[Sequence[int]],
    completions: Sequence[Sequence[int]],
    pad_id: int,
) -> Continuation:
    """Row ``i`` continues prompt ``owners[i]`` of the cache ``kv`` (whose ids are ``prompts[i]``, at least 2
    tokens) with ``completions[i]``. The copied cache keeps the autograd graph of ``kv``."""
    from transformers import DynamicCache

    device = kv[0][0].device
    tails = [[p[-1], *c] for p, c in zip(prompts, completions)]
    starts = torch.tensor([len(p) - 1 for p in prompts], device=device)  # cached prompt slots of each row
    used = int(starts.max())
    owner = torch.tensor(list(owners), device=device)
    past = DynamicCache([(k[owner, :, :used], v[owner, :, :used]) for k, v in kv])
    tail_ids, tail_mask = padded(tails, pad_id, device=device)
    cached = (torch.arange(used, device=device)[None, :] < starts[:, None]).long()
    positions = starts[:, None] + torch.arange(tail_ids.size(1), device=device)
    return Continuation(tail_ids, torch.cat([cached, tail_mask], dim=1), positions, past)


def length_buckets(lengths: Sequence[int], min_saving: float = 0.15) -> list[list[int]]:
    """Row indices in one batch, or in two by length where that pads at least ``min_saving`` fewer cells (a
    step's expert traces are often much shorter than its longest sample)."""
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    n, longest = len(order), lengths[order[-1]] if order else 0
    best, split = n * longest, n
    for k in range(1, n):
        cells = k * lengths[order[k - 1]] + (n - k) * longest
        if cells < best:
            best, split = cells, k
    if split == n or best > (1 - min_saving) * n * longest:
        return [list(range(n))]
    return [order[:split], order[split:]]


def shared_prompt_forward(
    forward: Callable[..., torch.Tensor],
    fill: Callable[[torch.Tensor, torch.Tensor, Any], None],
    prompts: Sequence[Sequence[int]],
    completions: Sequence[Sequence[int]],
    pad_id: int,
    device: Any,
) -> torch.Tensor:
    """``forward(**inputs)`` of every row continued from its prompt's cache, each prompt run once by ``fill``;
    the result's column ``j + 1`` is completion token ``j`` of the row (column 0: the prompt's last token),
    padded with zeros past the row's end. Rows of very different lengths continue in two batches."""
    groups = prompt_groups(prompts)
    owner_of = {key: k for k, key in enumerate(groups)}
    kv = fill_prompt_cache(fill, list(groups), pad_id, device)
    owners = [owner_of[tuple(p)] for p in prompts]
    buckets = length_buckets([len(c) for c in completions])
    parts = [
        forward(
            **continuation(
                kv, [owners[i] for i in rows], [prompts[i] for i in rows], [completions[i] for i in rows], pad_id
            ).inputs()
        )
        for rows in buckets
    ]
    if len(parts) == 1:
        return parts[0]
    out = parts[0].new_zeros((len(prompts), max(p.size(1) for p in parts), *parts[0].shape[2:]))
    for rows, part in zip(buckets, parts):
        out[torch.tensor(rows, device=out.device), : part.size(1)] = part
    return out
