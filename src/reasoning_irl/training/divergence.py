"""The divergence guard shared by every trainer: a NaN or inf stops the run before it reaches the weights.

Anything inside a training step (the policy's loss, the AIRL discriminator's update) calls :func:`require_finite`;
:class:`DivergenceGuardMixin` checks the step's loss and gradient norm after clipping, before ``optimizer.step``,
and turns every such failure into :class:`TrainingDiverged`: one line naming the quantity, the step and the last
good checkpoint, which the entry scripts print as ``error: ...`` with a non-zero exit. Checkpoints get a last
check of their own (:func:`first_non_finite`) before they are published.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Optional

import torch

from reasoning_irl.runs import checkpoints


class NonFiniteValue(ArithmeticError):
    """A guarded quantity (``"discriminator loss"``, ...) is NaN or inf; the step it belongs to is not applied."""

    def __init__(self, quantity: str, value: float):
        super().__init__(f"{quantity} is {value}")
        self.quantity, self.value = quantity, value


class TrainingDiverged(RuntimeError):
    """The run stopped on a non-finite value; the message is one line and every published checkpoint is finite."""


def require_finite(quantity: str, value) -> None:
    value = float(value)
    if not math.isfinite(value):
        raise NonFiniteValue(quantity, value)


def last_good_checkpoint(run_dir: Path) -> str:
    """The sentence that ends every divergence message: where to resume from, or that there is nothing to resume."""
    found = checkpoints(Path(run_dir))
    if not found:
        return "No checkpoint was saved before it: lower the learning rate and start again"
    return (
        f"Last good checkpoint: {found[-1]} (resume from it with training.resume_from=auto and a lower learning rate)"
    )


def diverged(quantity: str, value: float, step: int, run_dir: Path) -> TrainingDiverged:
    return TrainingDiverged(
        f"training diverged: {quantity} is {value} at step {step}; the step was not applied. "
        f"{last_good_checkpoint(run_dir)}"
    )


def first_non_finite(folder: Path) -> Optional[str]:
    """``<file>: <tensor>`` of the first NaN/inf tensor in the folder's safetensors files (read one at a time)."""
    from safetensors import safe_open

    for path in sorted(Path(folder).rglob("*.safetensors")):
        with safe_open(str(path), framework="pt") as handle:
            for key in handle.keys():
                tensor = handle.get_tensor(key)
                if tensor.is_floating_point() and not torch.isfinite(tensor).all():
                    return f"{path.relative_to(folder)}: {key}"
    return None


def unpublished(what: str, bad: str, step: int, run_dir: Path) -> TrainingDiverged:
    """The error for a checkpoint (or ``final``) that was refused because it holds a non-finite tensor."""
    side = "discriminator" if bad.startswith("reward_model") else "policy"
    return TrainingDiverged(
        f"training diverged: {side} weights are not finite at step {step} ({bad}); {what} "
        f"was not published. {last_good_checkpoint(run_dir)}"
    )


class DivergenceGuardMixin:
    """Mix in before a transformers Trainer: a non-finite loss or gradient norm ends the run before the update.

    The loss is checked on every micro-step and the gradient norm after clipping, just before the optimizer
    steps (transformers calls ``_get_grad_norm`` there). Every process takes the same decision. (Under DeepSpeed
    the engine steps inside backward, so only the checkpoint check stands between a NaN and a published file.)
    """

    guarded_model = "policy"
    _bad_loss: Optional[torch.Tensor] = None
    """0 while the micro-steps' losses are finite, non-finite once one was not (kept on the device: no sync)."""

    def train(self, *args, **kwargs):
        try:
            return super().train(*args, **kwargs)
        except Exception:
            # Else the bar shares the one-line error's line, or redraws itself below it when the process exits.
            self._close_progress_bar()
            raise

    def _close_progress_bar(self) -> None:
        from transformers.trainer_callback import ProgressCallback

        for callback in self.callback_handler.callbacks:
            if isinstance(callback, ProgressCallback) and callback.training_bar is not None:
                callback.training_bar.close()
                callback.training_bar = None

    def training_step(self, model, inputs, num_items_in_batch=None):
        try:
            loss = super().training_step(model, inputs, num_items_in_batch)
        except NonFiniteValue as exc:  # raised inside the step (e.g. by the discriminator's update)
            raise self._diverged(exc.quantity, exc.value) from None
        value = loss.detach().float().sum()
        bad = torch.where(torch.isfinite(value), torch.zeros_like(value), value)
        self._bad_loss = bad if self._bad_loss is None else self._bad_loss + bad
        return loss

    def _get_grad_norm(self, model, grad_norm=None):
        grad_norm = super()._get_grad_norm(model, grad_norm=grad_norm)
        bad = self._bad_loss if self._bad_loss is not None else torch.zeros(())
        self._bad_loss = None
        # A loss that is NaN in one process only must stop them all: every process calls this at the same step.
        bad = self.accelerator.reduce(bad.to(self.accelerator.device).reshape(1), reduction="sum").item()
        if not math.isfinite(bad):
            raise self._diverged(f"{self.guarded_model} loss", bad)
        norm = float(grad_norm) if grad_norm is not None else 0.0
        if not math.isfinite(norm):
            raise self._diverged(f"{self.guarded_model} grad norm", norm)
        return grad_norm

    def _diverged(self, quantity: str, value: float) -> TrainingDiverged:
        # global_step counts the steps already applied: the one that failed is the next.
        return diverged(quantity, value, self.state.global_step + 1, Path(self.args.output_dir))
