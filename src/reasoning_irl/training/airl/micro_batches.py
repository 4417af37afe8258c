"""How a discriminator update's rows are cut into forward passes, and kept consistent across them and across processes:
micro-batches (a prompt's rows together), completion masks, an expert's pair, fixed dropout masks for a recomputed
pass, and gradients averaged once per update. Pure functions of their arguments; the
:class:`~reasoning_irl.training.airl.discriminator.Discriminator` calls them."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Any, Optional

import torch

from reasoning_irl.models.prefix_cache import prompt_groups
from reasoning_irl.training.airl.batch import DiscRow


def completion_mask_of(starts: Sequence[int], lengths: Sequence[int], like: torch.Tensor) -> torch.Tensor:
    """1 on columns ``starts[i] .. starts[i] + lengths[i] - 1`` of row ``i`` of a batch shaped ``like``."""
    mask = torch.zeros(like.shape[:2], dtype=torch.long, device=like.device)
    for i, (start, length) in enumerate(zip(starts, lengths)):
        mask[i, start : start + length] = 1
    return mask


def expert_row(rows: list[DiscRow], row: DiscRow) -> int:
    """Index of the expert row made from the same record as ``row``."""
    for i, r in enumerate(rows):
        if r.kind == "expert" and r.source_index == row.source_index:
            return i
    raise ValueError(f"no expert row for record {row.source_index}")


def index_chunks(n: int, size: int) -> list[range]:
    """Index ranges of at most ``size`` of ``n`` rows: one forward pass each."""
    return [range(i, min(i + size, n)) for i in range(0, n, size)]


def prompt_chunks(prompts: Sequence[Sequence[int]], size: int) -> list[list[int]]:
    """Row indices in micro-batches of at most ``size`` rows, a prompt's rows kept together where they fit, so that
    each prompt runs once in its micro-batch."""
    out: list[list[int]] = [[]]
    for members in prompt_groups(prompts).values():
        for k in range(0, len(members), size):
            piece = members[k : k + size]
            if len(out[-1]) + len(piece) > size:
                out.append([])
            out[-1] += piece
    return [c for c in out if c]


@contextlib.contextmanager
def seeded(seed: Optional[int], device: torch.device) -> Iterator[None]:
    """Fixed dropout masks: the graph-free and the graph pass of a micro-batch must compute the same function."""
    if seed is None:
        yield
        return
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(seed)
        yield


@contextlib.contextmanager
def synced_gradients(accelerator: Any) -> Iterator[None]:
    """Let a prepared optimizer step: accelerate skips step/zero_grad on the policy's accumulation micro-steps
    (sync_gradients False), and generation -- hence the discriminator's update -- happens on the first one."""
    state = accelerator.gradient_state
    before = state.sync_gradients
    state._set_sync_gradients(True)  # the transformers Trainer drives this flag the same way
    try:
        yield
    finally:
        state._set_sync_gradients(before)


def finite_everywhere(loss: torch.Tensor, distributed: bool) -> bool:
    """Whether the loss is finite in every process (they must all skip a step, or all take it)."""
    finite = torch.isfinite(loss.detach()).float().reshape(1)
    if distributed:
        torch.distributed.all_reduce(finite, op=torch.distributed.ReduceOp.MIN)
    return bool(finite.item())


def average_gradients(params: list[torch.nn.Parameter]) -> None:
    """The mean of the processes' gradients (one flat all-reduce per dtype), as DDP's synchronised backward would give,
    after backward passes run under no_sync."""
    from torch._utils import _flatten_dense_tensors, _unflatten_dense_tensors

    world = torch.distributed.get_world_size()
    by_dtype: dict[torch.dtype, list[torch.Tensor]] = {}
    for p in params:
        if p.grad is None:  # every process must contribute the same tensors
            p.grad = torch.zeros_like(p)
        by_dtype.setdefault(p.grad.dtype, []).append(p.grad)
    for grads in by_dtype.values():
        flat = _flatten_dense_tensors(grads)
        torch.distributed.all_reduce(flat)
        for grad, synced in zip(grads, _unflatten_dense_tensors(flat.div_(world), grads)):
            grad.copy_(synced)
