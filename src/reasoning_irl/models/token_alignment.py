"""Map reward-model token logits onto the POLICY's completion tokens.

The policy gradient needs ``reward[t]`` for policy completion token ``t``. Two cases:

* Shared tokenizer (:func:`same_tokenizer`: identical vocabulary, so identical ids): the reward
  model reads the policy's exact completion ids (no re-tokenisation, which could split the text
  differently from what was sampled) and ``reward[t] = logit[t]`` -- the identity, no shift.
* Different tokenizers: the completion text is re-tokenised by the reward tokenizer with
  ``return_offsets_mapping=True``. Each policy token gets its character span from incremental
  decoding of the policy ids, and takes the logit of the LAST reward token whose span ends at or
  before the policy token's end -- the latest reward position that has seen no character beyond
  that token (for aligned boundaries this is the reward token that completes it). A policy token
  with no such reward token (it ends inside the first reward token, or is empty at the start)
  gets the first reward token.

Padding: positions where the policy completion mask is 0 get no reward token (index ``-1``) and
reward 0, so the output always has exactly one entry per policy completion position.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Optional

import torch


def same_tokenizer(a: Any, b: Any) -> bool:
    """Whether two tokenizers share the vocabulary (same token strings with the same ids)."""
    return a is b or a.get_vocab() == b.get_vocab()


@dataclass(frozen=True)
class Alignment:
    """How one policy completion is read by the reward model."""

    reward_ids: list[int]
    """The completion as reward-model token ids (to append after the reward-side prompt)."""
    index: list[int]
    """Per policy completion position: the reward-token position whose logit is its reward; -1 = padding."""


def policy_char_spans(tokenizer: Any, ids: Sequence[int]) -> list[tuple[int, int]]:
    """Character span of each token in ``decode(ids)`` by incremental decoding of prefixes.

    Special tokens are skipped in the text (they are zero-width). A token that decodes to part of
    a multi-byte character may make a prefix longer than its share, so the ends are clamped to
    the full text and kept non-decreasing.
    """
    ids = [int(i) for i in ids]
    full = len(_decode_all(tokenizer, [ids])[0])
    spans, prev = [], 0
    for block in range(0, len(ids), 256):  # bounded memory for long completions
        prefixes = _decode_all(tokenizer, [ids[: i + 1] for i in range(block, min(len(ids), block + 256))])
        for text in prefixes:
            end = min(full, max(prev, len(text)))
            spans.append((prev, end))
            prev = end
    return spans


def _decode_all(tokenizer: Any, seqs: list[list[int]]) -> list[str]:
    """``tokenizer.decode(seq, skip_special_tokens=True)`` of each sequence. A fast tokenizer without clean-up
    decodes exactly that text in its backend; one batched call there skips Python's per-call overhead, which
    dominated scoring with two tokenizers (one decode per prefix)."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None and getattr(tokenizer, "clean_up_tokenization_spaces", True) is False:
        return backend.decode_batch(seqs, skip_special_tokens=True)
    return [tokenizer.decode(seq, skip_special_tokens=True) for seq in seqs]


def map_spans(policy_spans: Sequence[tuple[int, int]], reward_spans: Sequence[tuple[int, int]]) -> list[int]:
    """For each policy span, the last reward token ending at or before its end (else the first)."""
    out, j = [], -1
    ends = [end for _, end in reward_spans]
    for _, end in policy_spans:
        # Policy ends are non-decreasing, so the pointer only moves forward.
        while j + 1 < len(ends) and ends[j + 1] <= end:
            j += 1
        out.append(max(j, 0) if ends else -1)
    return out


def align_completion(
    policy_tokenizer: Any,
    reward_tokenizer: Any,
    policy_completion_ids: Sequence[int],
    completion_mask: Optional[Sequence[int]] = None,
    shared: Optional[bool] = None,
) -> Alignment:
    """The reward-side ids and per-policy-token index for one (possibly padded) policy completion.

    ``completion_mask`` marks real tokens (1) and padding (0); by default every id is real.
    ``shared`` skips the vocabulary comparison when the caller already knows it.
    """
    ids = [int(i) for i in policy_completion_ids]
    mask = [1] * len(ids) if completion_mask is None else [int(m) for m in completion_mask]
    if len(mask) != len(ids):
        raise ValueError(f"completion_mask has {len(mask)} entries for {len(ids)} ids")
    real = [i for i, m in zip(ids, mask) if m]
    if shared is None:
        shared = same_tokenizer(policy_tokenizer, reward_tokenizer)
    if shared:
        reward_ids, real_index = real, list(range(len(real)))
    else:
        text = policy_tokenizer.decode(real, skip_special_tokens=True)
        enc = reward_tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
        reward_ids = list(enc["input_ids"])
        real_index = map_spans(policy_char_spans(policy_tokenizer, real), enc["offset_mapping"])
    it = iter(real_index)
    return Alignment(reward_ids=reward_ids, index=[next(it) if m else -1 for m in mask])


def policy_alignment(
    policy_tokenizer: Any,
    reward_tokenizer: Any,
    completion_ids: Sequence[int],
    completion_mask: Optional[Sequence[int]] = None,
    shared: Optional[bool] = None,
) -> tuple[list[int], Alignment]:
    """:func:`align_completion`, plus the end token: with different tokenizers a completion that ended
    with the policy's end token gets the reward tokenizer's end token appended, and the policy end
    token is read there (its text is empty, so the span map would give it the last text token; the
    appended end token is where a sparse score is trained). Returns (reward-side ids, alignment)."""
    if shared is None:
        shared = same_tokenizer(policy_tokenizer, reward_tokenizer)
    alignment = align_completion(policy_tokenizer, reward_tokenizer, completion_ids, completion_mask, shared=shared)
    ids = list(alignment.reward_ids)
    mask = [1] * len(completion_ids) if completion_mask is None else list(completion_mask)
    real = [k for k, m in enumerate(mask) if m]
    if not shared and real and int(completion_ids[real[-1]]) == policy_tokenizer.eos_token_id:
        ids.append(reward_tokenizer.eos_token_id)
        index = list(alignment.index)
        index[real[-1]] = len(ids) - 1
        alignment = Alignment(reward_ids=ids, index=index)
    return ids, alignment


def align_rewards(completion_logits: torch.Tensor, alignment: Alignment) -> torch.Tensor:
    """Per-policy-token rewards ``(len(alignment.index),)`` from the logits of the reward-side
    completion tokens (``completion_logits[j]`` = logit of ``alignment.reward_ids[j]``)."""
    index = torch.tensor(alignment.index, dtype=torch.long, device=completion_logits.device)
    if len(completion_logits) == 0:
        return torch.zeros(len(index), dtype=completion_logits.dtype, device=completion_logits.device)
    picked = completion_logits[index.clamp(min=0)]
    return torch.where(index >= 0, picked, torch.zeros_like(picked))


def batch_policy_rewards(
    token_logits: torch.Tensor, completion_starts: Sequence[int], alignments: Sequence[Alignment]
) -> torch.Tensor:
    """``(B, P)`` policy-token rewards from reward-model logits ``(B, T)`` of prompt+completion rows.

    ``completion_starts[b]`` is where row ``b``'s completion begins in the reward-model input; all
    alignments must have the same policy length ``P`` (the padded policy completion width).
    """
    widths = {len(a.index) for a in alignments}
    if len(widths) > 1:
        raise ValueError(f"alignments have different policy lengths {sorted(widths)}")
    rows = []
    for b, (start, a) in enumerate(zip(completion_starts, alignments)):
        rows.append(align_rewards(token_logits[b, start : start + len(a.reward_ids)], a))
    return torch.stack(rows) if rows else token_logits.new_zeros((0, 0))
