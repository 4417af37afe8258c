"""clipped_policy_loss / k3_kl / completion_logps on hand-made tensors with hand-computed values."""

from __future__ import annotations

import math

import pytest
import torch

from reasoning_irl.training.policy_loss import POLICY_LOSSES, clipped_policy_loss, completion_logps, k3_kl
from reasoning_irl.training.trl_adapter import trl_scores_on

# Ratios 1.5 (above 1 + 0.2), 0.5 (below 1 - 0.2) and 1.1 (inside) for a row with A = +1 and a row with A = -1.
RATIOS = [1.5, 0.5, 1.1]
# Per token -min(r*A, clip(r)*A):
#   A = +1: r=1.5 -> -min(1.5, 1.2) = -1.2; r=0.5 -> -min(0.5, 0.8) = -0.5; r=1.1 -> -1.1
#   A = -1: r=1.5 -> -min(-1.5, -1.2) = 1.5; r=0.5 -> -min(-0.5, -0.8) = 0.8; r=1.1 -> 1.1
PER_TOKEN = [[-1.2, -0.5, -1.1], [1.5, 0.8, 1.1]]


def _clip_case(advantages: torch.Tensor):
    logps = torch.log(torch.tensor([RATIOS, RATIOS])).requires_grad_(True)
    out = clipped_policy_loss(logps, torch.zeros(2, 3), advantages, torch.ones(2, 3), epsilon_low=0.2, epsilon_high=0.2)
    return logps, out


def test_clipping_inside_and_outside_for_both_signs():
    logps, out = _clip_case(torch.tensor([1.0, -1.0]))
    expected = sum(sum(row) / 3 for row in PER_TOKEN) / 2  # grpo: per-sequence mean, then mean
    assert out.loss.item() == pytest.approx(expected, abs=1e-6)
    assert expected == pytest.approx(0.1)
    # Clipped "in the direction that matters": r > 1.2 with A > 0, r < 0.8 with A < 0 -> 2 of 6 tokens.
    assert out.clip_fraction.item() == pytest.approx(2 / 6)
    assert out.kl is None
    out.loss.backward()
    # d(-r*A)/d(logp) = -r*A, divided by 3 tokens and 2 sequences; clipped tokens get no gradient.
    expected_grad = torch.tensor([[0.0, -0.5, -1.1], [1.5, 0.0, 1.1]]) / 6
    torch.testing.assert_close(logps.grad, expected_grad, rtol=0, atol=1e-6)


def test_sequence_and_token_advantages_agree_when_constant_over_tokens():
    _, seq = _clip_case(torch.tensor([1.0, -1.0]))
    _, tok = _clip_case(torch.tensor([[1.0] * 3, [-1.0] * 3]))
    assert seq.loss.item() == pytest.approx(tok.loss.item(), abs=1e-7)
    assert seq.clip_fraction.item() == pytest.approx(tok.clip_fraction.item())


# Ragged mask, ratio 1 everywhere (per-token loss = -A); the 0-advantage token at [0, 2] is valid and
# must count in the denominators; masked tokens carry large values that must not count.
RAGGED_MASK = torch.tensor([[1, 1, 1, 0], [1, 1, 0, 0]])
RAGGED_ADV = torch.tensor([[1.0, 2.0, 0.0, 9.0], [4.0, 2.0, 7.0, 7.0]])
AGGREGATES = {
    "grpo": (-(1 + 2 + 0) / 3 + -(4 + 2) / 2) / 2,  # = -2.0 (-2.25 if the zero-advantage token were dropped)
    "bnpo": -(1 + 2 + 0 + 4 + 2) / 5,  # = -1.8
    "dr_grpo": -(1 + 2 + 0 + 4 + 2) / (2 * 4),  # sum / (B * max_completion_length) = -1.125
}


@pytest.mark.parametrize("loss_type", sorted(AGGREGATES))
def test_aggregations_on_a_ragged_mask(loss_type):
    zeros = torch.zeros(2, 4)
    out = clipped_policy_loss(zeros, zeros, RAGGED_ADV, RAGGED_MASK, loss_type=loss_type, max_completion_length=4)
    assert out.loss.item() == pytest.approx(AGGREGATES[loss_type], abs=1e-6)


def test_every_registered_aggregation_is_hand_checked():
    assert set(POLICY_LOSSES.names()) == set(AGGREGATES)


def test_padding_with_extreme_values_gives_finite_loss_and_gradient():
    # TRL scores padding as logp 0; ours are real log-probs there, which can be very negative after training.
    logps = torch.tensor([[-1.0, -200.0], [-2.0, -300.0]], requires_grad=True)
    mask = torch.tensor([[1, 0], [1, 0]])
    advantages = torch.tensor([[1.0, float("nan")], [-1.0, float("nan")]])
    out = clipped_policy_loss(logps, logps.detach(), advantages, mask, beta=0.5, ref_logps=torch.zeros(2, 2))
    out.loss.backward()
    assert torch.isfinite(out.loss) and torch.isfinite(logps.grad).all()
    assert logps.grad[:, 1].abs().sum() == 0
    # On valid tokens: ratio 1, so the surrogate is -A (mean 0 here) plus beta * k3 with delta = 0 - logp.
    kl = [math.exp(1) - 1 - 1, math.exp(2) - 2 - 1]
    assert out.kl.item() == pytest.approx(sum(kl) / 2, rel=1e-6)
    assert out.loss.item() == pytest.approx(0.5 * sum(kl) / 2, rel=1e-6)


def test_k3_kl_zero_at_reference_and_exact_for_a_known_delta():
    logps = torch.tensor([-0.3, -1.7, -4.0])
    assert torch.equal(k3_kl(logps, logps), torch.zeros(3))
    # delta = ref - logp = 0.5 -> exp(0.5) - 0.5 - 1; delta = -0.5 -> exp(-0.5) + 0.5 - 1
    got = k3_kl(torch.tensor([-1.0, -1.0]), torch.tensor([-0.5, -1.5]))
    expected = torch.tensor([math.exp(0.5) - 1.5, math.exp(-0.5) - 0.5])
    torch.testing.assert_close(got, expected)


def test_beta_adds_kl_and_needs_a_reference():
    zeros = torch.zeros(1, 2)
    with pytest.raises(ValueError, match="reference"):
        clipped_policy_loss(zeros, zeros, torch.ones(1), torch.ones(1, 2), beta=0.1)
    ref = torch.tensor([[0.5, 0.0]])
    out = clipped_policy_loss(zeros, zeros, torch.zeros(1), torch.ones(1, 2), beta=0.1, ref_logps=ref)
    kl = (math.exp(0.5) - 0.5 - 1) / 2
    assert out.kl.item() == pytest.approx(kl, rel=1e-6)
    assert out.loss.item() == pytest.approx(0.1 * kl, rel=1e-6)


@pytest.fixture(scope="module")
def tiny_model(artifacts):
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(artifacts / "tiny-qwen2-policy").eval()


@pytest.mark.parametrize("temperature", [1.0, 0.7])
def test_completion_logps_is_the_shifted_log_softmax_gather(tiny_model, temperature):
    torch.manual_seed(0)
    ids = torch.randint(5, tiny_model.config.vocab_size, (2, 9))
    mask = torch.ones_like(ids)
    mask[1, :2] = 0  # a left-padded prompt
    n = 4
    got = completion_logps(tiny_model, ids, mask, n, temperature)
    with torch.no_grad():
        logits = tiny_model(input_ids=ids, attention_mask=mask).logits / temperature
    logprobs = torch.log_softmax(logits.float(), dim=-1)
    for row in range(2):
        for j in range(n):
            t = ids.size(1) - n + j  # the completion token at position t is scored by the logits at t - 1
            assert got[row, j].item() == pytest.approx(logprobs[row, t - 1, ids[row, t]].item(), abs=1e-5)


@pytest.mark.skipif(
    not trl_scores_on(torch.device("cpu")), reason="TRL 1.15's fused LM head runs only its Triton kernel, on CUDA"
)
def test_completion_logps_matches_trls_fused_head(tiny_model):
    """TRL computes the old/reference log-probs: ours must agree so the on-policy ratio is 1 and KL(init) is 0."""
    import copy

    from trl.trainer.utils import add_fused_lm_head

    fused = copy.deepcopy(tiny_model)
    add_fused_lm_head(fused, temperature=0.9)
    torch.manual_seed(1)
    ids = torch.randint(5, tiny_model.config.vocab_size, (3, 10))
    mask = torch.ones_like(ids)
    mask[0, :3] = 0
    mask[2, -2:] = 0  # completion padding
    n = 5
    labels = ids.masked_fill(mask == 0, -100)
    labels[:, :-n] = -100
    with torch.no_grad():
        trl_logps = fused(input_ids=ids, attention_mask=mask, labels=labels, fused_lm_head=True).log_probs[:, -n:]
        ours = completion_logps(tiny_model, ids, mask, n, temperature=0.9)
    valid = mask[:, -n:].bool()
    torch.testing.assert_close(ours[valid], trl_logps[valid], rtol=1e-4, atol=1e-5)


def test_importance_weights_scale_the_surrogate_not_the_kl():
    zeros = torch.zeros(1, 2)
    ref = torch.tensor([[0.5, 0.0]])
    weights = torch.tensor([[2.0, 0.5]])
    out = clipped_policy_loss(
        zeros, zeros, torch.tensor([1.0]), torch.ones(1, 2), beta=0.1, ref_logps=ref, importance_weights=weights
    )
    # surrogate -A * w = [-2, -0.5]; KL [exp(0.5) - 1.5, 0]; per-token mean.
    expected = (-2.0 - 0.5 + 0.1 * (math.exp(0.5) - 1.5)) / 2
    assert out.loss.item() == pytest.approx(expected, rel=1e-6)
