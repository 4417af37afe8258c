"""Discriminator losses for adversarial IRL, plus Lipschitz helpers and accuracy.

A registry entry (:class:`DiscLoss`) is the loss and what it asks of the discriminator around it (its options
from the method config, a gradient penalty, a step after each optimizer step), so the discriminator runs any
registered loss without knowing its name. Loss functions share one signature:
``loss(logits, labels, weights=None, **options)`` where ``logits`` (N,) are per-row discriminator scores (the caller decides how token
logits are pooled), ``labels`` (N,) are 1 for expert and 0 for negative rows, and
``weights`` (N,) are non-negative per-row weights (uniform when None). Each returns a
scalar loss to minimise; higher scores always mean "more expert-like".
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from reasoning_irl.registry import Registry, wrapped_in

DiscLossFn = Callable[..., torch.Tensor]


def _no_options(method: Any) -> dict[str, Any]:
    return {}


def _never(method: Any) -> bool:
    return False


def _nothing(params: list[torch.nn.Parameter], method: Any) -> None:
    return None


@dataclass(frozen=True)
class DiscLoss:
    """A registered discriminator loss and what it asks of the discriminator (``method``: the AIRL method config)."""

    loss: DiscLossFn
    options: Callable[[Any], dict[str, Any]] = _no_options
    """Keyword options of ``loss`` from the method config."""
    gradient_penalty: Callable[[Any], bool] = _never
    """Whether the discriminator adds the WGAN-GP term on its input embeddings."""
    after_step: Callable[[list[torch.nn.Parameter], Any], None] = _nothing
    """Runs on the trained parameters after every optimizer step (e.g. weight clipping)."""
    paired: bool = False
    """Whether ``loss`` takes ``pair_index`` (N,): for each negative row, the row of its own problem's expert trace."""


DISC_LOSSES: Registry[DiscLoss] = Registry("discriminator loss", entry=wrapped_in(DiscLoss))


def _prepare(
    logits: torch.Tensor, labels: torch.Tensor, weights: torch.Tensor | None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    if logits.dim() != 1 or labels.shape != logits.shape:
        raise ValueError(f"logits and labels must both be (N,); got {tuple(logits.shape)} and {tuple(labels.shape)}")
    w = torch.ones_like(logits) if weights is None else weights.to(logits.dtype)
    if w.shape != logits.shape:
        raise ValueError(f"weights must be (N,), got {tuple(w.shape)}")
    return logits, labels.to(logits.dtype), w


def _weighted_mean(values: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    total = weights.sum()
    if total <= 0:
        raise ValueError("weights must have a positive sum over the rows they average")
    return (values * weights).sum() / total


@DISC_LOSSES.register(
    "bce", options=lambda m: {"label_smoothing": m.label_smoothing, "temperature": m.disc_temperature}
)
def bce_loss(
    logits: torch.Tensor,
    labels: torch.Tensor,
    weights: torch.Tensor | None = None,
    temperature: float = 1.0,
    label_smoothing: float = 0.0,
) -> torch.Tensor:
    """Weighted BCE on ``logits / temperature``; weights are normalised by their sum.

    Label smoothing convention: target = y(1 - eps) + (1 - y) eps, i.e. expert rows aim at
    1 - eps and negatives at eps (so eps = 0.5 makes every target 0.5).
    """
    z, y, w = _prepare(logits, labels, weights)
    target = y * (1 - label_smoothing) + (1 - y) * label_smoothing
    per_row = F.binary_cross_entropy_with_logits(z / temperature, target, reduction="none")
    return _weighted_mean(per_row, w)


def _wgan_clip(params: list[torch.nn.Parameter], method: Any) -> None:
    if method.wgan_lipschitz == "weight_clip":
        clip_weights(params, method.weight_clip)


@DISC_LOSSES.register("wgan", gradient_penalty=lambda m: m.wgan_lipschitz == "gradient_penalty", after_step=_wgan_clip)
def wgan_loss(
    logits: torch.Tensor,
    labels: torch.Tensor,
    weights: torch.Tensor | None = None,
    penalty: torch.Tensor | None = None,
    penalty_weight: float = 10.0,
) -> torch.Tensor:
    """Critic loss: weighted mean(negative scores) - weighted mean(expert scores) [+ lambda * penalty].

    Each class mean is weighted within that class, so class imbalance does not tilt it.
    The Lipschitz constraint is the caller's choice: pass ``penalty`` from
    :func:`gradient_penalty` (added with weight ``penalty_weight``), or leave it None and
    call :func:`clip_weights` after each optimiser step.
    """
    s, y, w = _prepare(logits, labels, weights)
    expert = y > 0.5
    if not expert.any() or expert.all():
        raise ValueError("wgan loss needs at least one expert and one negative row")
    loss = _weighted_mean(s[~expert], w[~expert]) - _weighted_mean(s[expert], w[expert])
    if penalty is not None:
        loss = loss + penalty_weight * penalty
    return loss


@DISC_LOSSES.register("relativistic", paired=True)
def relativistic_loss(
    logits: torch.Tensor,
    labels: torch.Tensor,
    weights: torch.Tensor | None = None,
    pair_index: torch.Tensor | None = None,
) -> torch.Tensor:
    """A relativistic critic (RARO: Cai & Provilkov, "Escaping the Verifier", arXiv 2511.21667): each negative row (a
    policy sample, a perturbed copy) against the expert trace of its own problem, -log sigmoid(s_expert - s_row),
    the weighted mean over the negatives (their weights).

    Only score differences within a problem are trained, so a problem's own offset is free and the policy's token
    rewards may carry it; the group-normalised advantages subtract the group's mean return, which removes it up to
    the samples' differences in length (an offset per token adds offset x length to a return), so what the policy
    is paid is, nearly, each sample's score relative to its group's, as RARO pays it.
    """
    s, y, w = _prepare(logits, labels, weights)
    if pair_index is None or pair_index.shape != s.shape:
        raise ValueError("the relativistic loss needs pair_index (N,) mapping negatives to expert rows")
    negative = y < 0.5
    if not negative.any():
        raise ValueError("the relativistic loss needs at least one negative row")
    partners = pair_index.long()[negative]
    if (y[partners] < 0.5).any():
        raise ValueError("pair_index must point each negative row at an expert row")
    return _weighted_mean(F.softplus(s[negative] - s[partners]), w[negative])


def gradient_penalty(
    score_fn: Callable[[torch.Tensor], torch.Tensor],
    expert_emb: torch.Tensor,
    negative_emb: torch.Tensor,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """WGAN-GP term E[(||grad_x score(x)|| - 1)^2] on random interpolates of paired embeddings.

    ``expert_emb`` and ``negative_emb`` have the same shape (N, ...); row i of each is
    mixed with one alpha ~ U(0, 1). ``score_fn`` maps (N, ...) to (N,) scores; the norm is
    over all non-batch dimensions. The graph is kept so the penalty trains the critic.
    """
    if expert_emb.shape != negative_emb.shape:
        raise ValueError(f"embeddings must match: {tuple(expert_emb.shape)} vs {tuple(negative_emb.shape)}")
    shape = (expert_emb.shape[0],) + (1,) * (expert_emb.dim() - 1)
    alpha = torch.rand(shape, generator=generator, dtype=expert_emb.dtype).to(expert_emb.device)
    # Detach the inputs: the penalty constrains the critic, not whatever produced the embeddings.
    x = (alpha * expert_emb.detach() + (1 - alpha) * negative_emb.detach()).requires_grad_(True)
    scores = score_fn(x)
    (grad,) = torch.autograd.grad(scores.sum(), x, create_graph=True)
    norms = grad.flatten(start_dim=1).norm(dim=1)
    return ((norms - 1) ** 2).mean()


def clip_weights(params: torch.nn.Module | Iterable[torch.nn.Parameter], c: float) -> None:
    """Clamp every parameter (of a module, or the given ones) to [-c, c] in place (original WGAN constraint)."""
    with torch.no_grad():
        for p in params.parameters() if isinstance(params, torch.nn.Module) else params:
            p.clamp_(-c, c)


def pairwise_margin(
    expert_scores: torch.Tensor,
    perturbed_scores: torch.Tensor,
    pair_index: torch.Tensor,
    margin: float = 1.0,
    weights: torch.Tensor | None = None,
) -> torch.Tensor:
    """Hinge on each perturbed row against ITS OWN expert: mean(max(0, margin - (e - p))).

    ``pair_index`` (P,) gives, for perturbed row j, the row of ``expert_scores`` it was made
    from; several perturbations may share one expert. ``weights`` (P,) weight the mean.
    """
    if pair_index.shape != perturbed_scores.shape:
        raise ValueError("pair_index must give one expert row per perturbed row")
    gap = expert_scores[pair_index.long()] - perturbed_scores
    hinge = torch.clamp(margin - gap, min=0)
    w = torch.ones_like(hinge) if weights is None else weights.to(hinge.dtype)
    return _weighted_mean(hinge, w)


def pairwise_margin_loss(
    logits: torch.Tensor,
    labels: torch.Tensor,
    weights: torch.Tensor | None = None,
    pair_index: torch.Tensor | None = None,
    margin: float = 1.0,
) -> torch.Tensor:
    """:func:`pairwise_margin` over one mixed batch: the hinge the discriminator adds to its registered loss
    (``method.pairwise_margin_weight``), not a loss of its own.

    ``pair_index`` (N,) holds, for every negative row of nonzero weight, the batch index of its expert
    twin (entries on expert rows and zero-weight negatives are ignored). Weights of the negative rows are used.
    """
    s, y, w = _prepare(logits, labels, weights)
    if pair_index is None or pair_index.shape != s.shape:
        raise ValueError("pairwise_margin needs pair_index (N,) mapping negatives to expert rows")
    negative = (y < 0.5) & (w > 0)  # a zero weight adds nothing to the weighted mean: such rows need no twin
    partners = pair_index.long()[negative]
    if (y[partners] < 0.5).any():
        raise ValueError("pair_index must point each negative row at an expert row")
    return pairwise_margin(s, s[negative], partners, margin=margin, weights=w[negative])


def disc_accuracy(logits: torch.Tensor, labels: torch.Tensor) -> dict[str, float]:
    """Fraction of rows whose sign matches the label (logit > 0 means expert), overall and per class.

    A class absent from the batch reports NaN rather than a misleading 0 or 1.
    """
    pred = logits.detach() > 0
    truth = labels.detach() > 0.5
    correct = (pred == truth).float()

    def frac(sel: torch.Tensor) -> float:
        return correct[sel].mean().item() if sel.any() else float("nan")

    return {"accuracy": frac(torch.ones_like(truth)), "expert_accuracy": frac(truth), "negative_accuracy": frac(~truth)}


def compute_disc_loss(
    name: str, logits: torch.Tensor, labels: torch.Tensor, weights: torch.Tensor | None = None, **options
) -> torch.Tensor:
    """Dispatch to a registered loss; an unknown name raises an error listing the names."""
    return DISC_LOSSES.get(name).loss(logits, labels, weights, **options)


def disc_metrics(scores: torch.Tensor, rows: list[Any], loss: torch.Tensor) -> dict[str, float]:
    """Loss, accuracy, and per row kind (expert / policy / perturbed) the accuracy and mean score of one update's
    rows (:class:`~reasoning_irl.training.airl.batch.DiscRow`)."""
    labels = torch.tensor([r.label for r in rows], device=scores.device)
    out = {"disc/loss": loss.item(), "disc/accuracy": disc_accuracy(scores, labels)["accuracy"]}
    for kind in ("expert", "policy", "perturbed"):
        sel = torch.tensor([r.kind == kind for r in rows], device=scores.device)
        if sel.any():
            out[f"disc/accuracy_{kind}"] = ((scores[sel] > 0) == (labels[sel] > 0)).float().mean().item()
            out[f"disc/score_{kind}"] = scores[sel].mean().item()
    return out
