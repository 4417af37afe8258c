"""Advantage estimators checked against values worked out by hand in the comments."""

from __future__ import annotations

import math

import pytest
import torch

from reasoning_irl.registry import UnknownNameError
from reasoning_irl.training.advantages import (
    ADVANTAGES,
    compute_advantages,
    discounted_reverse_sum,
    group_concordance,
    group_normalize,
    mix_outcome,
)

ATOL = 1e-4  # eps=1e-6 in the std denominator shifts normalised values by ~1e-6.


def t(rows):
    return torch.tensor(rows, dtype=torch.float32)


def close(actual, expected):
    torch.testing.assert_close(actual, t(expected), atol=ATOL, rtol=0)


# Group of 2, full mask: returns 4 and 2 -> mu = 3, population sigma = 1; mu / T = 1.5.
# r' row0 = [(1-1.5)/1, (3-1.5)/1] = [-.5, 1.5]; row1 = [(0-1.5)/1, (2-1.5)/1] = [-1.5, .5].
R2 = t([[1.0, 3.0], [0.0, 2.0]])
M2 = torch.ones(2, 2)


def test_registry_names():
    assert {"grpo", "grpo_token_rms", "prime", "rloo", "sparse"} <= set(ADVANTAGES.names())


def test_grpo_gamma_zero_is_normalised_reward():
    close(compute_advantages("grpo", R2, M2, 2, gamma=0.0), [[-0.5, 1.5], [-1.5, 0.5]])


def test_grpo_gamma_one_is_suffix_sum():
    # Suffix sums of [-.5, 1.5] and [-1.5, .5]; the first token's value is the z-score +-1.
    close(compute_advantages("grpo", R2, M2, 2, gamma=1.0), [[1, 1.5], [-1, 0.5]])


def test_gamma_half_three_tokens():
    # A2 = 4; A1 = 2 + .5*4 = 4; A0 = 1 + .5*4 = 3.
    adv = compute_advantages("grpo", t([[1, 2, 4]]), torch.ones(1, 3), 1, gamma=0.5, normalize=False)
    close(adv, [[3, 4, 4]])


def test_normalize_off_is_raw_recursion():
    close(compute_advantages("grpo", R2, M2, 2, gamma=0.0, normalize=False), R2.tolist())
    close(compute_advantages("grpo", R2, M2, 2, gamma=1.0, normalize=False), [[4, 3], [2, 2]])


def test_ragged_mask_skips_padding_anywhere():
    # Row 0 has interior padding (reward 9 must be ignored): A3 = 4, A2 = 2 + .5*4 = 4,
    # A1 = 0 (pad), A0 = 1 + .5*A2 = 3. Row 1 is right-padded: A1 = 6, A0 = 5 + .5*6 = 8.
    rewards = t([[1, 9, 2, 4], [5, 6, 100, 100]])
    mask = t([[1, 0, 1, 1], [1, 1, 0, 0]])
    adv = compute_advantages("grpo", rewards, mask, 1, gamma=0.5, normalize=False)
    close(adv, [[3, 0, 4, 4], [8, 6, 0, 0]])


def test_group_of_three_with_padding():
    # Returns: row0 [2,4] -> 6 (T=2), row1 [1,pad] -> 1 (T=1), row2 [2,2] -> 4 (T=2); mu = 11/3,
    # sigma = sqrt(((7/3)^2 + (8/3)^2 + (1/3)^2) / 3) = sqrt(114/27). mu/T = 11/6, 11/3, 11/6.
    s = math.sqrt(114 / 27)
    rewards = t([[2, 4], [1, 50], [2, 2]])
    mask = t([[1, 1], [1, 0], [1, 1]])
    close(
        compute_advantages("grpo", rewards, mask, 3, gamma=0.0),
        [[1 / 6 / s, 13 / 6 / s], [-8 / 3 / s, 0], [1 / 6 / s, 1 / 6 / s]],
    )
    # gamma = 1: each row's first value is its z-score (6 - 11/3) / s, (1 - 11/3) / s, (4 - 11/3) / s.
    close(
        compute_advantages("grpo", rewards, mask, 3, gamma=1.0),
        [[7 / 3 / s, 13 / 6 / s], [-8 / 3 / s, 0], [1 / 3 / s, 1 / 6 / s]],
    )


def test_groups_are_consecutive_rows():
    # Two groups of 2: the second group is R2 + 10, which normalises to the same values.
    rewards = torch.cat([R2, R2 + 10])
    adv = compute_advantages("grpo", rewards, torch.ones(4, 2), 2, gamma=0.0)
    close(adv, [[-0.5, 1.5], [-1.5, 0.5], [-0.5, 1.5], [-1.5, 0.5]])


def test_zero_std_group_gives_zeros_not_nan():
    # Both rows have return 4, so the group carries no relative signal.
    adv = compute_advantages("grpo", t([[1, 3], [2, 2]]), M2, 2, gamma=1.0)
    assert torch.equal(adv, torch.zeros(2, 2))
    assert torch.equal(group_normalize(t([0.1, 0.1, 0.1]), 3), torch.zeros(3))
    assert torch.equal(compute_advantages("sparse", t([[1, 3], [2, 3]]), M2, 2), torch.zeros(2, 2))


# 2x3 example, group of 2, row1 padded at t=2 (its reward 7 must be ignored).
# Sums: row0 = 6, row1 = 1; mean token rewards: row0 = 2, row1 = 0.5.
RP = t([[1, 2, 3], [0, 1, 7]])
MP = t([[1, 1, 1], [1, 1, 0]])


def test_grpo_token_rms_scales_by_token_rms():
    # R2 centred as in grpo: [[-.5, 1.5], [-1.5, .5]]; token RMS = sqrt((.25 + 2.25 + 2.25 + .25) / 4) = sqrt(1.25).
    s = math.sqrt(1.25)
    close(compute_advantages("grpo_token_rms", R2, M2, 2, gamma=0.0), [[-0.5 / s, 1.5 / s], [-1.5 / s, 0.5 / s]])
    # gamma = 1: suffix sums [1 / s, 1.5 / s] and [-1 / s, .5 / s].
    close(compute_advantages("grpo_token_rms", R2, M2, 2, gamma=1.0), [[1 / s, 1.5 / s], [-1 / s, 0.5 / s]])
    close(compute_advantages("grpo_token_rms", R2, M2, 2, gamma=0.0, normalize=False), [[-0.5, 1.5], [-1.5, 0.5]])


def test_grpo_token_rms_keeps_a_tight_group_small():
    # Two groups of one-token rows: sums (4, 2) and (1.2, 0.8) -> centred (1, -1) and (.2, -.2).
    # grpo gives both groups +-1; here the RMS is sqrt((1 + 1 + .04 + .04) / 4) = sqrt(.52).
    rewards = t([[4.0], [2.0], [1.2], [0.8]])
    s = math.sqrt(0.52)
    close(compute_advantages("grpo", rewards, torch.ones(4, 1), 2, gamma=0.0)[:, 0:1], [[1], [-1], [1], [-1]])
    close(
        compute_advantages("grpo_token_rms", rewards, torch.ones(4, 1), 2, gamma=0.0),
        [[1 / s], [-1 / s], [0.2 / s], [-0.2 / s]],
    )


def test_prime_leave_one_out():
    # Baseline of row0 = mean of row1 = 0.5 -> r' = [0.5, 1.5, 2.5];
    # baseline of row1 = mean of row0 = 2 -> r' = [-2, -1, pad].
    close(compute_advantages("prime", RP, MP, 2, gamma=0.0), [[0.5, 1.5, 2.5], [-2, -1, 0]])
    # gamma = 1: suffix sums [4.5, 4, 2.5] and [-3, -1].
    close(compute_advantages("prime", RP, MP, 2, gamma=1.0), [[4.5, 4, 2.5], [-3, -1, 0]])


def test_rloo_sequence_level():
    # A0 = 6 - 1 = 5, A1 = 1 - 6 = -5, on every valid token; gamma is ignored.
    for gamma in (0.0, 0.5, 1.0):
        close(compute_advantages("rloo", RP, MP, 2, gamma=gamma), [[5, 5, 5], [-5, -5, 0]])


def test_rloo_group_of_three():
    # Sums [6, 1, 2]: A = [6 - 1.5, 1 - 4, 2 - 3.5] = [4.5, -3, -1.5].
    rewards = t([[1, 2, 3], [0, 1, 0], [2, 0, 0]])
    close(compute_advantages("rloo", rewards, torch.ones(3, 3), 3)[:, 0], [4.5, -3, -1.5])


def test_leave_one_out_needs_two():
    with pytest.raises(ValueError, match="group_size"):
        compute_advantages("rloo", RP, MP, 1)


def test_sparse_uses_final_valid_token():
    # Final rewards: row0 -> 1, row1 -> 5 (t=2 is padding). mu = 3, sigma = 2 -> [-1, 1].
    rewards = t([[0, 0, 1], [0, 5, 9]])
    close(compute_advantages("sparse", rewards, MP, 2), [[-1, -1, -1], [1, 1, 0]])
    close(compute_advantages("sparse", rewards, MP, 2, normalize=False), [[1, 1, 1], [5, 5, 0]])


def test_mix_outcome_not_discounted_or_inflated():
    # Outcomes [1, 0] normalise to [1, -1]; weight 0.5 adds +-0.5 to each valid token,
    # the same at every position even after a gamma=1 recursion over 3 tokens.
    dense = compute_advantages("prime", RP, MP, 2, gamma=1.0)
    mixed = mix_outcome(dense, t([1, 0]), MP, 2, weight=0.5)
    close(mixed - dense, [[0.5, 0.5, 0.5], [-0.5, -0.5, 0]])
    # Equal outcomes add nothing.
    assert torch.equal(mix_outcome(dense, t([1, 1]), MP, 2, weight=0.5), dense)


def test_mask_not_value_marks_padding():
    # Equal sums give rloo advantage exactly 0 on valid tokens, the same value as padding.
    rewards = t([[1, 2, 0], [3, 0, 0]])
    mask = t([[1, 1, 0], [1, 1, 1]])
    adv = compute_advantages("rloo", rewards, mask, 2)
    assert torch.equal(adv, torch.zeros(2, 3))
    # So a value-based "padding" test would drop 5 real tokens; only the mask is right.
    assert int((adv != 0).sum()) == 0
    assert int(mask.sum()) == 5
    # Padding rewards never leak into valid positions.
    garbage = rewards + (1 - mask) * 1e6
    assert torch.equal(compute_advantages("rloo", garbage, mask, 2), adv)


@pytest.mark.parametrize("gamma", [1.0, 0.99])
@pytest.mark.parametrize("name", ["grpo", "grpo_token_rms", "prime", "rloo", "sparse"])
def test_long_sequences_are_finite(name, gamma):
    torch.manual_seed(0)
    rewards = torch.randn(4, 8192, dtype=torch.bfloat16)
    mask = torch.ones(4, 8192)
    mask[1, 5000:] = 0
    adv = compute_advantages(name, rewards, mask, 2, gamma=gamma)
    assert adv.dtype == torch.float32
    assert torch.isfinite(adv).all()
    assert torch.equal(adv[1, 5000:], torch.zeros(3192))


def test_long_recursion_closed_form():
    ones = torch.ones(1, 8192)
    assert discounted_reverse_sum(ones, ones, 1.0)[0, 0].item() == 8192.0
    # Geometric series: (1 - 0.99**8192) / 0.01 ~= 100.
    a0 = discounted_reverse_sum(ones, ones, 0.99)[0, 0].item()
    assert a0 == pytest.approx((1 - 0.99**8192) / 0.01, rel=1e-4)


def test_unknown_name_lists_names():
    with pytest.raises(UnknownNameError, match="grpo.*prime.*rloo.*sparse"):
        compute_advantages("nope", R2, M2, 2)


def test_batch_must_be_multiple_of_group():
    with pytest.raises(ValueError, match="multiple"):
        compute_advantages("grpo", torch.ones(3, 2), torch.ones(3, 2), 2)


def test_group_concordance_hand_computed():
    scores = torch.tensor([3.0, 1.0, 2.0, 5.0, 5.0, 0.0])
    outcome = torch.tensor([1.0, 0.0, 0.0, 1.0, 0.0, 1.0])
    keep = torch.ones(6, dtype=torch.bool)
    # group 1: (0>1) and (0>2) both ordered; group 2: (3 vs 4) a tie = 1/2, (5 vs 4) reversed = 0 -> 2.5 / 4
    assert group_concordance(scores, outcome, 3, keep) == pytest.approx(0.625)
    keep[5] = False  # an expert row left out: group 2 keeps only the tie -> 2.5 / 3
    assert group_concordance(scores, outcome, 3, keep) == pytest.approx(2.5 / 3)
    assert group_concordance(scores, torch.ones(6), 3, torch.ones(6, dtype=torch.bool)) is None  # no pair differs
