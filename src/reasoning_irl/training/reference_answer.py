"""Rewards from the reference answer's likelihood after the policy's own reasoning (no grader, no verifier).

VeriFree (Zhou et al., "Reinforcing General Reasoning without Verifiers", arXiv 2505.21493): the policy writes its
reasoning z; the reference answer y* is appended in place of the answer it wrote, and the reward is the policy's own
probability of it, R = π(y* | x, z). The gradient of E_z[R] is E_z[R ∇log π(z|x) + R ∇log π(y*|x,z)]: the reasoning
tokens take R with a leave-one-out (RLOO) baseline over the group, the appended answer tokens are trained weighted
by R itself. Both become one (B, T) advantage for the project's clipped policy loss (:func:`verifree_advantages`).

The pieces here are pure: where a sampled completion's reasoning ends (:func:`reasoning_length`), the reference
answer written as the expert writes it (:func:`answer_block`), the rewritten completions
(:func:`with_reference_answers`) and the advantages.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

import torch

from reasoning_irl.data.schema import ANSWER_CLOSE, ANSWER_OPEN
from reasoning_irl.training.advantages import leave_one_out_mean


def answer_block(record: dict[str, Any]) -> str:
    """The reference answer as the expert trace writes it: the target from its last ``<answer>`` on, or (a target
    without one) the gold answer in the task's format."""
    target = record.get("target") or ""
    start = target.rfind(ANSWER_OPEN)
    if start >= 0:
        return target[start:].rstrip()
    return f"{ANSWER_OPEN}\n{str(record['answer']).strip()}\n{ANSWER_CLOSE}"


def reasoning_length(tokenizer: Any, ids: list[int]) -> Optional[tuple[int, str]]:
    """How many of a sampled completion's tokens are its reasoning, and the text between them and the answer tag.

    The reasoning ends at the token holding the first character of the first ``<answer>``; a token that starts
    before the tag and runs into it gives its leading text back as the bridge (it is re-tokenised with the appended
    answer). None when the completion wrote no ``<answer>`` (a format failure, e.g. cut at the length limit).
    """
    text = tokenizer.decode(ids, skip_special_tokens=True)
    tag = text.find(ANSWER_OPEN)
    if tag < 0:
        return None
    # The fewest tokens whose text reaches past the tag's first character, found by bisection (a prefix's text
    # grows with its tokens); the reasoning is the tokens before the last of them.
    low, high = 1, len(ids)
    while low < high:
        mid = (low + high) // 2
        if len(tokenizer.decode(ids[:mid], skip_special_tokens=True)) > tag:
            high = mid
        else:
            low = mid + 1
    n = low - 1
    return n, text[len(tokenizer.decode(ids[:n], skip_special_tokens=True)) : tag]


@dataclass
class Rewritten:
    """Completions with the reference answer in place of the sampled one."""

    completions: list[list[int]]
    answer_start: list[int]
    """Index of each completion's first appended token; its length where nothing was appended (no reasoning cut)."""


def with_reference_answers(
    tokenizer: Any, sampled: list[list[int]], records: list[dict[str, Any]], stop_id: int, untagged: str = "keep"
) -> Rewritten:
    """Each sampled completion's reasoning tokens (the sampled ids themselves) followed by its record's reference
    answer and the stop token. A completion without an answer tag is kept as sampled with nothing appended
    (``untagged="keep"``), or taken whole as the reasoning, less a final stop token (``"append"``)."""
    if untagged not in ("keep", "append"):
        raise ValueError(f"untagged must be keep or append, got {untagged!r}")
    completions, starts = [], []
    for ids, record in zip(sampled, records):
        cut = reasoning_length(tokenizer, ids)
        if cut is None and untagged == "keep":
            completions.append(list(ids))
            starts.append(len(ids))
            continue
        if cut is None:
            whole = len(ids) - (1 if ids and ids[-1] == stop_id else 0)
            text = tokenizer.decode(ids[:whole], skip_special_tokens=True)
            cut = (whole, "" if text.endswith("\n") or not text else "\n")
        n, bridge = cut
        answer = tokenizer(bridge + answer_block(record), add_special_tokens=False)["input_ids"]
        completions.append(list(ids[:n]) + answer + [stop_id])
        starts.append(n)
    return Rewritten(completions, starts)


def region_masks(mask: torch.Tensor, answer_start: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
    """(reasoning, answer) masks of right-padded completions: the tokens before / from each ``answer_start``."""
    positions = torch.arange(mask.size(1), device=mask.device)[None, :]
    start = torch.tensor(answer_start, device=mask.device)[:, None]
    answer = (positions >= start).to(mask.dtype) * mask
    return mask - answer, answer


def verifree_advantages(
    likelihood: torch.Tensor, reasoning_mask: torch.Tensor, answer_mask: torch.Tensor, group: int
) -> torch.Tensor:
    """(B, T) advantages of VeriFree's estimator. ``likelihood`` (B,) is R = π(y*|x,z) (0 where no answer was
    appended); rows come in groups of ``group`` samples of one prompt. Reasoning tokens: R_i minus the mean R of the
    group's other samples (RLOO); answer tokens: R_i."""
    rloo = likelihood - leave_one_out_mean(likelihood, group)
    return rloo[:, None] * reasoning_mask + likelihood[:, None] * answer_mask
