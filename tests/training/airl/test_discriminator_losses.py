"""Discriminator losses checked against values worked out by hand in the comments."""

from __future__ import annotations

import math

import pytest
import torch

from reasoning_irl.registry import UnknownNameError
from reasoning_irl.training.airl.losses import (
    DISC_LOSSES,
    clip_weights,
    compute_disc_loss,
    disc_accuracy,
    gradient_penalty,
    pairwise_margin,
    pairwise_margin_loss,
    relativistic_loss,
)


def t(values):
    return torch.tensor(values, dtype=torch.float32)


def softplus(x: float) -> float:
    return math.log1p(math.exp(x))


LOGITS = t([0.0, 2.0])
LABELS = t([1.0, 0.0])


def test_registry_names():
    assert {"bce", "wgan", "relativistic"} <= set(DISC_LOSSES.names())
    assert DISC_LOSSES.get("relativistic").paired and not DISC_LOSSES.get("bce").paired
    assert "pairwise_margin" not in DISC_LOSSES  # a term added to the loss (pairwise_margin_weight), not a loss


def test_bce_plain():
    # Expert at logit 0: -log sigmoid(0) = log 2. Negative at 2: -log(1 - sigmoid(2)) = softplus(2).
    expected = (math.log(2) + softplus(2)) / 2
    assert compute_disc_loss("bce", LOGITS, LABELS).item() == pytest.approx(expected, rel=1e-6)


def test_bce_temperature_and_weights():
    # z = logits / 2 = [0, 1]; weights [1, 3] normalised by 4.
    # loss = (log 2 + 3 * softplus(1)) / 4
    expected = (math.log(2) + 3 * softplus(1)) / 4
    loss = compute_disc_loss("bce", LOGITS, LABELS, t([1, 3]), temperature=2.0)
    assert loss.item() == pytest.approx(expected, rel=1e-6)


def test_bce_label_smoothing():
    # eps = 0.1: targets 0.9 (expert) and 0.1 (negative). BCE(z, y) = softplus(z) - y z.
    # Row 0: softplus(0) - 0.9 * 0 = log 2. Row 1: softplus(1) - 0.1 * 1.
    expected = (math.log(2) + 3 * (softplus(1) - 0.1)) / 4
    loss = compute_disc_loss("bce", LOGITS, LABELS, t([1, 3]), temperature=2.0, label_smoothing=0.1)
    assert loss.item() == pytest.approx(expected, rel=1e-6)


def test_bce_weights_scale_invariant():
    a = compute_disc_loss("bce", LOGITS, LABELS, t([1, 3]))
    b = compute_disc_loss("bce", LOGITS, LABELS, t([10, 30]))
    assert a.item() == pytest.approx(b.item(), rel=1e-6)


def test_wgan_value_and_sign():
    # Expert rows [3, 1] with weights [1, 3]: mean (3 + 3) / 4 = 1.5.
    # Negative rows [-1, 0] with weights [1, 1]: mean -0.5. Loss = -0.5 - 1.5 = -2.
    scores = t([3, 1, -1, 0])
    labels = t([1, 1, 0, 0])
    weights = t([1, 3, 1, 1])
    good = compute_disc_loss("wgan", scores, labels, weights)
    assert good.item() == pytest.approx(-2.0)
    # Expert scored low instead: the loss is higher.
    bad = compute_disc_loss("wgan", -scores, labels, weights)
    assert bad.item() == pytest.approx(2.0)
    assert good < bad


def test_wgan_adds_penalty():
    scores, labels = t([3, -1]), t([1, 0])
    loss = compute_disc_loss("wgan", scores, labels, penalty=torch.tensor(0.5), penalty_weight=10.0)
    assert loss.item() == pytest.approx(-4.0 + 5.0)


def test_wgan_needs_both_classes():
    with pytest.raises(ValueError, match="expert"):
        compute_disc_loss("wgan", t([1, 2]), t([1, 1]))


def test_gradient_penalty_linear():
    # score(x) = x . w with w = [3, 4]: the gradient is w everywhere, norm 5,
    # so the penalty is (5 - 1)^2 = 16 whatever the interpolation.
    w = t([3.0, 4.0]).requires_grad_(True)
    expert, negative = torch.randn(6, 2), torch.randn(6, 2)
    gp = gradient_penalty(lambda x: x @ w, expert, negative, generator=torch.Generator().manual_seed(0))
    assert gp.item() == pytest.approx(16.0, rel=1e-6)
    # The graph reaches the critic: d/dw (|w| - 1)^2 = 2 (|w| - 1) w / |w| = 8 * [3, 4] / 5.
    gp.backward()
    torch.testing.assert_close(w.grad, t([4.8, 6.4]))


def test_gradient_penalty_unit_norm_and_sequence_embeddings():
    # Gradient norm 1 over all non-batch dims (0.6^2 + 0.8^2 = 1) gives zero penalty.
    weight = torch.zeros(3, 2)
    weight[0] = t([0.6, 0.8])
    gp = gradient_penalty(lambda x: (x * weight).sum(dim=(1, 2)), torch.randn(4, 3, 2), torch.randn(4, 3, 2))
    assert gp.item() == pytest.approx(0.0, abs=1e-6)


def test_clip_weights_clamps_in_place():
    layer = torch.nn.Linear(2, 1)
    with torch.no_grad():
        layer.weight.copy_(t([[-2.0, 0.5]]))
        layer.bias.copy_(t([3.0]))
    clip_weights(layer, 1.0)
    torch.testing.assert_close(layer.weight.data, t([[-1.0, 0.5]]))
    torch.testing.assert_close(layer.bias.data, t([1.0]))


EXPERT = t([2.0, 0.0])
PERTURBED = t([1.0, 0.5, -1.0])


def test_pairwise_margin_exact():
    # Pairs (e, p): (2, 1) gap 1 -> 0; (0, 0.5) gap -0.5 -> 1.5; (0, -1) gap 1 -> 0. Mean 0.5.
    loss = pairwise_margin(EXPERT, PERTURBED, torch.tensor([0, 1, 1]), margin=1.0)
    assert loss.item() == pytest.approx(0.5)


def test_pairwise_margin_zero_when_separated():
    loss = pairwise_margin(t([5.0, 5.0]), t([0.0, 0.0]), torch.tensor([0, 1]), margin=1.0)
    assert loss.item() == 0.0


def test_pairwise_margin_uses_index_mapping():
    # Shuffled pairing: (0, 1) gap -1 -> 2; (2, 0.5) gap 1.5 -> 0; (2, -1) gap 3 -> 0. Mean 2/3.
    loss = pairwise_margin(EXPERT, PERTURBED, torch.tensor([1, 0, 0]), margin=1.0)
    assert loss.item() == pytest.approx(2 / 3)
    assert loss.item() != pytest.approx(0.5)


def test_pairwise_margin_batch_form():
    # Same pairs as test_pairwise_margin_exact, laid out as one batch: rows 0-1 expert,
    # rows 2-4 perturbed twins of experts 0, 1, 1.
    logits = t([2.0, 0.0, 1.0, 0.5, -1.0])
    labels = t([1, 1, 0, 0, 0])
    loss = pairwise_margin_loss(logits, labels, pair_index=torch.tensor([0, 1, 0, 1, 1]))
    assert loss.item() == pytest.approx(0.5)
    with pytest.raises(ValueError, match="expert row"):
        pairwise_margin_loss(logits, labels, pair_index=torch.tensor([0, 1, 2, 1, 1]))
    # a zero-weight negative (a policy row whose problem has no demonstration) needs no twin and changes nothing
    logits6, labels6 = torch.cat([logits, t([9.0])]), torch.cat([labels, t([0])])
    weights = t([1, 1, 1, 1, 1, 0])
    loss6 = pairwise_margin_loss(logits6, labels6, weights, pair_index=torch.tensor([0, 1, 0, 1, 1, 5]))
    assert loss6.item() == pytest.approx(0.5)


def test_disc_accuracy():
    # Predictions (logit > 0): [E, N, E, N, N]; truth [E, E, N, N, N].
    # Correct [1, 0, 0, 1, 1]: overall 3/5, expert 1/2, negative 2/3.
    acc = disc_accuracy(t([1.0, -1.0, 2.0, -3.0, 0.0]), t([1, 1, 0, 0, 0]))
    assert acc["accuracy"] == pytest.approx(0.6)
    assert acc["expert_accuracy"] == pytest.approx(0.5)
    assert acc["negative_accuracy"] == pytest.approx(2 / 3)
    assert math.isnan(disc_accuracy(t([1.0]), t([1.0]))["negative_accuracy"])


def test_unknown_name_lists_names():
    with pytest.raises(UnknownNameError, match="choose one of: bce, relativistic, wgan"):
        compute_disc_loss("hinge", LOGITS, LABELS)


def test_relativistic_by_hand():
    # Two problems: expert 0 (score 1) with negatives 1 (0) and 2 (2); expert 3 (-1) with negative 4 (-1).
    # Each negative: -log sigmoid(s_expert - s_row) = softplus(s_row - s_expert): softplus(-1), softplus(1), log 2;
    # weighted by the negatives' weights .25, .25, .5: .25 log((1 + 1/e)(1 + e)) + .5 log 2.
    scores, labels = t([1.0, 0.0, 2.0, -1.0, -1.0]), t([1.0, 0.0, 0.0, 1.0, 0.0])
    weights, pairs = t([0.5, 0.25, 0.25, 0.5, 0.5]), torch.tensor([0, 0, 0, 3, 3])
    expected = 0.25 * math.log(2 + math.e + 1 / math.e) + 0.5 * math.log(2)
    got = compute_disc_loss("relativistic", scores, labels, weights, pair_index=pairs)
    assert got.item() == pytest.approx(expected, rel=1e-6)
    # only differences within a problem count: an offset on one problem's rows changes nothing
    shifted = scores + t([5.0, 5.0, 5.0, 0.0, 0.0])
    assert relativistic_loss(shifted, labels, weights, pairs).item() == pytest.approx(expected, rel=1e-6)
    with pytest.raises(ValueError, match="needs pair_index"):
        relativistic_loss(scores, labels, weights)
    with pytest.raises(ValueError, match="at an expert row"):
        relativistic_loss(scores, labels, weights, torch.tensor([0, 0, 1, 3, 3]))
    with pytest.raises(ValueError, match="at least one negative"):
        relativistic_loss(t([1.0]), t([1.0]), pair_index=torch.tensor([0]))
