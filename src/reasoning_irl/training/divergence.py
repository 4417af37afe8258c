"""The divergence guard shared by every trainer: a NaN or inf stops the run before it reaches the weights.

Anything inside a training step (the policy's loss, the AIRL discriminator's update) calls :func:`require_finite`;
the step loop (reasoning_irl.training.step_loop) checks the step's loss and gradient norm after clipping, before
``optimizer.step``, and turns every such failure into :class:`TrainingDiverged`: one line naming the quantity, the step and the last
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
