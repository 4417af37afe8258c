"""Per-token advantage estimators for GRPO driven by dense (token-level) rewards.

Shared inputs
-------------
``rewards`` (B, T) float token rewards, ``mask`` (B, T) with 1 on valid completion
tokens and 0 on padding, ``group_size`` G: rows are grouped consecutively, so rows
``0..G-1`` are the completions of one prompt, ``G..2G-1`` of the next, and so on.
Every estimator returns float32 advantages (B, T) that are exactly 0 on padding.

Padding is identified by ``mask`` only, never by value: a valid token whose advantage
is exactly 0 is a real advantage and downstream code must keep using ``mask``.

Conventions
-----------
* Group statistics use the population std (``unbiased=False``), so a group of one
  has std 0 instead of NaN.
* A group whose std is below ``eps`` carries no relative signal and gets all-zero
  (normalised) values rather than NaN or a huge ratio.
* The discounted reverse recursion ``A_t = r'_t + gamma * A_{t_next}`` runs over valid
  tokens only: padding positions are skipped (they neither add reward nor break the
  chain), so interior padding behaves as if it had been removed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Optional

import torch

from reasoning_irl.registry import Registry

AdvantageFn = Callable[..., torch.Tensor]
ADVANTAGES: Registry[AdvantageFn] = Registry("advantage estimator")

DEFAULT_EPS = 1e-6


def _check(rewards: torch.Tensor, mask: torch.Tensor, group_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    if rewards.dim() != 2 or mask.shape != rewards.shape:
        raise ValueError(f"rewards and mask must both be (B, T); got {tuple(rewards.shape)} and {tuple(mask.shape)}")
    if group_size < 1 or rewards.shape[0] % group_size != 0:
        raise ValueError(f"batch size {rewards.shape[0]} is not a multiple of group_size {group_size}")
    m = mask.to(torch.bool)
    # float32 keeps the recursion stable even when the model emits bf16/fp16 rewards.
    r = torch.where(m, rewards.to(torch.float32), torch.zeros((), dtype=torch.float32))
    return r, m


def group_normalize(values: torch.Tensor, group_size: int, eps: float = DEFAULT_EPS) -> torch.Tensor:
    """(v - mean_g) / (std_g + eps) per consecutive group of ``group_size``; 0 for degenerate groups."""
    v = values.to(torch.float32).reshape(-1, group_size)
    mean = v.mean(dim=1, keepdim=True)
    std = v.std(dim=1, unbiased=False, keepdim=True)
    out = (v - mean) / (std + eps)
    # Equal scores in a group: no preference signal, and rounding in mean/std must not leak noise.
    out = torch.where(std < eps, torch.zeros_like(out), out)
    return out.reshape(values.shape)


def _group_stats(values: torch.Tensor, group_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-row group mean and population std of a (B,) tensor, each returned as (B,)."""
    v = values.reshape(-1, group_size)
    mean = v.mean(dim=1, keepdim=True).expand_as(v).reshape(-1)
    std = v.std(dim=1, unbiased=False, keepdim=True).expand_as(v).reshape(-1)
    return mean, std


def leave_one_out_mean(values: torch.Tensor, group_size: int) -> torch.Tensor:
    """For each row, the mean of the other ``group_size - 1`` rows of its group."""
    if group_size < 2:
        raise ValueError("a leave-one-out baseline needs group_size >= 2")
    v = values.to(torch.float32).reshape(-1, group_size)
    others = (v.sum(dim=1, keepdim=True) - v) / (group_size - 1)
    return others.reshape(values.shape)


def mean_token_reward(rewards: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Per-sequence mean of valid token rewards (B,); 0 for a row with no valid token."""
    m = mask.to(torch.bool)
    r = torch.where(m, rewards.to(torch.float32), torch.zeros((), dtype=torch.float32))
    lengths = m.sum(dim=1).clamp(min=1).to(torch.float32)
    return r.sum(dim=1) / lengths


def group_concordance(
    scores: torch.Tensor, outcome: torch.Tensor, group_size: int, keep: torch.Tensor
) -> Optional[float]:
    """Share of the pairs of kept rows in one group with different outcomes that ``scores`` orders the same way
    (a tie in score counts one half); None when no group holds such a pair. With the learned reward's sequence
    scores and the verifiable outcome this says whether the group-relative advantages point towards correct
    samples, a diagnostic the outcome never feeds back into."""
    s, o, k = (t.reshape(-1, group_size).to(torch.float32) for t in (scores, outcome, keep))
    higher = (o.unsqueeze(2) > o.unsqueeze(1)) & (k.unsqueeze(2) > 0) & (k.unsqueeze(1) > 0)  # [g, i, j]: o_i > o_j
    pairs = higher.sum().item()
    if pairs == 0:
        return None
    ds = s.unsqueeze(2) - s.unsqueeze(1)
    agree = ((ds > 0).float() + 0.5 * (ds == 0).float())[higher].sum().item()
    return agree / pairs


def discounted_reverse_sum(rewards: torch.Tensor, mask: torch.Tensor, gamma: float) -> torch.Tensor:
    """A_t = r_t + gamma * A_next over valid tokens only, computed right to left.

    A running carry replaces any ``gamma**t`` weights, so length 8k with gamma=1 or
    0.99 stays finite (values are bounded by the plain suffix sums).
    """
    m = mask.to(torch.bool)
    r = torch.where(m, rewards.to(torch.float32), torch.zeros((), dtype=torch.float32))
    out = torch.zeros_like(r)
    carry = torch.zeros(r.shape[0], dtype=torch.float32, device=r.device)
    for t in range(r.shape[1] - 1, -1, -1):
        step = r[:, t] + gamma * carry
        valid = m[:, t]
        # Padding keeps the carry from the next valid token, so it is skipped, not a break.
        carry = torch.where(valid, step, carry)
        out[:, t] = torch.where(valid, step, torch.zeros_like(step))
    return out


@ADVANTAGES.register("grpo")
def grpo_advantages(
    rewards: torch.Tensor,
    mask: torch.Tensor,
    group_size: int,
    gamma: float = 1.0,
    normalize: bool = True,
    eps: float = DEFAULT_EPS,
) -> torch.Tensor:
    """Group-normalised token rewards, then the discounted reverse recursion.

    The sequence score is the return S_i = sum_t r_t; mu_g / sigma_g are its mean / std over
    the group, and r'_t = (r_t - mu_g / T_i) / (sigma_g + eps) with T_i the row's valid tokens.
    So sum_t r'_t = (S_i - mu_g) / sigma_g, the sequence's GRPO z-score: the dense reward
    spreads GRPO's advantage over the tokens, and with gamma = 1 the first token's advantage
    is exactly that z-score. (Dividing token rewards by the std of per-token *means* instead
    makes advantages ~T times larger, which swamps the KL term.) ``normalize=False`` gives
    r'_t = r_t. Degenerate groups (sigma_g < eps) give r' = 0.
    """
    r, m = _check(rewards, mask, group_size)
    if normalize:
        centred, sigma = _group_centred(r, m, group_size)
        r = centred / (sigma[:, None] + eps)
        r = torch.where((sigma < eps)[:, None], torch.zeros_like(r), r)  # padding: skipped by the recursion
    return discounted_reverse_sum(r, m, gamma)


def _group_centred(r: torch.Tensor, m: torch.Tensor, group_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``r_t - mu_g / T_i`` (0 on padding), whose row sums are S_i - mu_g, and each row's group return std."""
    mu, sigma = _group_stats(r.sum(dim=1), group_size)
    lengths = m.sum(dim=1).clamp(min=1).to(torch.float32)
    return torch.where(m, r - (mu / lengths)[:, None], torch.zeros_like(r)), sigma


@ADVANTAGES.register("grpo_token_rms")
def grpo_token_rms_advantages(
    rewards: torch.Tensor,
    mask: torch.Tensor,
    group_size: int,
    gamma: float = 1.0,
    normalize: bool = True,
    eps: float = DEFAULT_EPS,
) -> torch.Tensor:
    """GRPO's group centring, scaled by the batch's token-level RMS instead of the group's std.

    r'_t = (r_t - mu_g / T_i) / rms, with rms the root mean square of ``r_t - mu_g / T_i`` over every
    valid token of the batch, then the discounted reverse recursion. ``grpo`` divides by the std of
    *sequence* returns, which can be far smaller than the token rewards when they cancel within a
    sequence (a learned reward's per-token values easily do): advantages of tens of units, and the
    policy steps far from its reference. Here every token reward has unit scale whatever the group's
    spread. ``normalize=False`` skips the scaling (centring only).
    """
    r, m = _check(rewards, mask, group_size)
    r, _ = _group_centred(r, m, group_size)
    if normalize:
        rms = (r.pow(2).sum() / m.sum().clamp(min=1)).sqrt()
        r = r / (rms + eps) if rms >= eps else torch.zeros_like(r)
    return discounted_reverse_sum(r, m, gamma)


@ADVANTAGES.register("prime")
def prime_advantages(
    rewards: torch.Tensor,
    mask: torch.Tensor,
    group_size: int,
    gamma: float = 1.0,
    normalize: bool = True,
    eps: float = DEFAULT_EPS,
) -> torch.Tensor:
    """Leave-one-out token baseline (PRIME-style), then the discounted reverse recursion.

    r'_t = r_t - mean over the other G-1 sequences of their mean token reward.
    ``normalize`` and ``eps`` are accepted for a uniform signature but unused: the
    leave-one-out baseline is already centred and rescaling would change the estimator.
    """
    r, m = _check(rewards, mask, group_size)
    baseline = leave_one_out_mean(mean_token_reward(r, m), group_size)
    return discounted_reverse_sum(r - baseline[:, None], m, gamma)


@ADVANTAGES.register("rloo")
def rloo_advantages(
    rewards: torch.Tensor,
    mask: torch.Tensor,
    group_size: int,
    gamma: float = 1.0,
    normalize: bool = True,
    eps: float = DEFAULT_EPS,
) -> torch.Tensor:
    """Sequence-level RLOO: A_i = sum_t r_t - mean of the other G-1 sums, on every valid token.

    ``gamma``, ``normalize`` and ``eps`` are ignored (one scalar per sequence, no recursion).
    """
    r, m = _check(rewards, mask, group_size)
    scores = r.sum(dim=1)
    adv = scores - leave_one_out_mean(scores, group_size)
    return torch.where(m, adv[:, None].expand_as(r), torch.zeros_like(r))


def last_token_reward(rewards: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Reward at each row's last valid token (B,); 0 for a row with no valid token."""
    m = mask.to(torch.bool)
    positions = torch.arange(m.shape[1], device=m.device).expand_as(m)
    last = torch.where(m, positions, torch.full_like(positions, -1)).max(dim=1).values
    picked = rewards.to(torch.float32).gather(1, last.clamp(min=0)[:, None]).squeeze(1)
    return torch.where(last >= 0, picked, torch.zeros_like(picked))


def broadcast_sequence_values(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Copy one value per row onto every valid token; 0 on padding."""
    m = mask.to(torch.bool)
    v = values.to(torch.float32)[:, None].expand(m.shape)
    return torch.where(m, v, torch.zeros_like(v))


@ADVANTAGES.register("sparse")
def sparse_advantages(
    rewards: torch.Tensor,
    mask: torch.Tensor,
    group_size: int,
    gamma: float = 1.0,
    normalize: bool = True,
    eps: float = DEFAULT_EPS,
) -> torch.Tensor:
    """Outcome-style baseline: the final valid token's reward, group-normalised, on every token.

    ``normalize=False`` broadcasts the raw final reward. ``gamma`` is ignored.
    """
    r, m = _check(rewards, mask, group_size)
    score = last_token_reward(r, m)
    if normalize:
        score = group_normalize(score, group_size, eps)
    return broadcast_sequence_values(score, m)


def mix_outcome(
    advantages: torch.Tensor,
    outcome_rewards: torch.Tensor,
    mask: torch.Tensor,
    group_size: int,
    weight: float,
    eps: float = DEFAULT_EPS,
) -> torch.Tensor:
    """Add ``weight`` x group-normalised outcome reward to every valid token.

    The outcome term is normalised on its own and added after the recursion, so it is
    neither discounted nor multiplied by the sequence length.
    """
    if outcome_rewards.shape != (advantages.shape[0],):
        raise ValueError(f"outcome_rewards must be (B,), got {tuple(outcome_rewards.shape)}")
    if advantages.shape[0] % group_size != 0:
        raise ValueError(f"batch size {advantages.shape[0]} is not a multiple of group_size {group_size}")
    outcome = broadcast_sequence_values(group_normalize(outcome_rewards, group_size, eps), mask)
    m = mask.to(torch.bool)
    base = torch.where(m, advantages.to(torch.float32), torch.zeros((), dtype=torch.float32))
    return base + weight * outcome


def compute_advantages(
    name: str, rewards: torch.Tensor, mask: torch.Tensor, group_size: int, gamma: float = 1.0, normalize: bool = True
) -> torch.Tensor:
    """Dispatch to a registered estimator; an unknown name raises an error listing the names."""
    return ADVANTAGES.get(name)(rewards, mask, group_size, gamma=gamma, normalize=normalize)
