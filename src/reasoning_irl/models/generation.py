"""Batched HF generation shared by evaluation and in-training validation: seeded per-row sampling, greedy.

Determinism: every sampled row (problem, sample j) draws its random numbers from its own ``torch.Generator``
seeded by ``(seed, problem id, j)``, one uniform per generated token, and the token is taken by inverse-CDF
on the temperature/top-p distribution, so a sample does not depend on which rows share its batch
(see reasoning_irl.evaluation.sampling for the bit-level caveat of left padding).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Optional

import torch

from reasoning_irl.data.prompts import render_prompt
from reasoning_irl.models.loading import padding_id


def row_seed(seed: int, problem_id: str, sample_index: int) -> int:
    """A stable 63-bit seed of one sample (independent of process, batch and problem order)."""
    digest = hashlib.sha256(f"{seed}|{problem_id}|{sample_index}".encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1


class PerRowSampler:
    """Logits processor that samples every row from its own generator and returns a one-hot score,
    so ``generate(do_sample=False)`` takes exactly that token. Rows with generator ``None`` stay greedy."""

    def __init__(self, generators: list[Optional[torch.Generator]], temperature: float, top_p: float):
        self.generators, self.temperature, self.top_p = generators, temperature, top_p

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        sampled = [b for b, g in enumerate(self.generators) if g is not None]
        if not sampled or self.temperature == 0:
            return scores
        rows = torch.tensor(sampled, device=scores.device)
        logits = scores[rows].float() / self.temperature
        probs = torch.softmax(logits, dim=-1)
        sorted_p, order = probs.sort(dim=-1, descending=True)
        cum = sorted_p.cumsum(-1)
        keep = (cum - sorted_p) < self.top_p  # smallest prefix whose mass reaches top_p (first always kept)
        sorted_p = sorted_p * keep
        cum = sorted_p.cumsum(-1)
        u = torch.stack([torch.rand((), generator=self.generators[b]) for b in sampled]).to(scores.device)
        u = u * cum[:, -1]
        pick = torch.searchsorted(cum, u.unsqueeze(-1), right=True).clamp(max=cum.shape[-1] - 1)
        # A zero-probability slot can only be picked at a float edge; step back onto a kept token.
        pick = torch.minimum(pick, keep.sum(-1, keepdim=True) - 1)
        token = order.gather(-1, pick).squeeze(-1)
        out = scores.clone()
        out[rows] = float("-inf")
        out[rows, token] = 0.0
        return out


@dataclass
class Sampled:
    """Completions of one problem: ``samples[j]`` ids of sample j; ``greedy`` ids or None."""

    samples: list[list[int]]
    greedy: Optional[list[int]]


def eos_ids(model: Any, tokenizer: Any) -> list[int]:
    ids = model.generation_config.eos_token_id
    ids = [] if ids is None else ([ids] if isinstance(ids, int) else list(ids))
    if tokenizer.eos_token_id is not None and tokenizer.eos_token_id not in ids:
        ids.append(tokenizer.eos_token_id)
    return ids


def _cut(ids: list[int], eos: set[int]) -> list[int]:
    """Generated ids up to and including the first end token (padding after it removed)."""
    for k, t in enumerate(ids):
        if t in eos:
            return ids[: k + 1]
    return ids


@torch.inference_mode()
def sample_hf(
    model: Any,
    tokenizer: Any,
    prompts: Sequence[list[dict]],
    problem_ids: Sequence[str],
    n: int,
    temperature: float,
    top_p: float,
    max_new_tokens: int,
    seed: int,
    batch_size: int = 16,
    greedy: bool = True,
    progress: bool = True,
) -> list[Sampled]:
    """N seeded samples (+ one greedy) per problem with HF ``generate``: left padding, KV cache."""
    from tqdm.auto import tqdm
    from transformers import GenerationConfig, LogitsProcessorList

    eos = eos_ids(model, tokenizer)
    pad = padding_id(tokenizer, eos[0])
    texts = [render_prompt(tokenizer, m) for m in prompts]
    encoded = [tokenizer(t, add_special_tokens=False)["input_ids"] for t in texts]
    jobs = [(p, j) for p in range(len(prompts)) for j in ([-1] if greedy else []) + list(range(n))]
    # Longest prompts first: less padding per batch (composition does not change the random draws).
    jobs.sort(key=lambda job: -len(encoded[job[0]]))
    gen_cfg = GenerationConfig(
        max_new_tokens=max_new_tokens,
        do_sample=False,
        num_beams=1,
        repetition_penalty=1.0,
        eos_token_id=eos,
        pad_token_id=pad,
        use_cache=True,
    )
    device = next(model.parameters()).device
    results: dict[tuple[int, int], list[int]] = {}
    bar = tqdm(total=len(jobs), desc="sampling", unit="seq", disable=not progress)
    for b in range(0, len(jobs), batch_size):
        chunk = jobs[b : b + batch_size]
        width = max(len(encoded[p]) for p, _ in chunk)
        ids = torch.full((len(chunk), width), pad, dtype=torch.long)
        mask = torch.zeros((len(chunk), width), dtype=torch.long)
        for r, (p, _) in enumerate(chunk):
            row = encoded[p]
            ids[r, width - len(row) :] = torch.tensor(row, dtype=torch.long)
            mask[r, width - len(row) :] = 1
        gens = [None if j < 0 else torch.Generator().manual_seed(row_seed(seed, problem_ids[p], j)) for p, j in chunk]
        processor = PerRowSampler(gens, temperature, top_p)
        out = model.generate(
            input_ids=ids.to(device),
            attention_mask=mask.to(device),
            generation_config=gen_cfg,
            logits_processor=LogitsProcessorList([processor]),
        )
        for r, job in enumerate(chunk):
            results[job] = _cut(out[r, width:].tolist(), set(eos))
        bar.update(len(chunk))
    bar.close()
    return [
        Sampled(samples=[results[(p, j)] for j in range(n)], greedy=results[(p, -1)] if greedy else None)
        for p in range(len(prompts))
    ]
