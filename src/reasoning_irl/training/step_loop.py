"""The project's own training step: one call of ``update`` per optimizer step, readable top to bottom.

transformers' Trainer keeps what surrounds a step (data order, resume, callbacks, logging, checkpoints, held-out
evaluation); what happens inside one is ours. :meth:`OwnedStepLoop.update` takes the step's micro-batches, runs
each one's loss and backward pass (:meth:`OwnedStepLoop.backward`), then :meth:`OwnedStepLoop.optimizer_step`
clips, checks and applies the update. GRPO and AIRL override ``update`` to sample before the losses (and AIRL to
train its discriminator in between), so a reader finds a whole step in one function.

The divergence guard acts here: a non-finite loss (any micro-batch) or gradient norm stops the run before the
optimizer steps, and a :class:`NonFiniteValue` raised inside the step (the discriminator's update) becomes the
same one-line :class:`TrainingDiverged`. Every process takes the same decision.
"""

from __future__ import annotations

import contextlib
import itertools
import math
import time
from pathlib import Path
from typing import Any, Optional

import torch
from accelerate import skip_first_batches
from accelerate.utils import DistributedType
from transformers.optimization import GreedyLR

from reasoning_irl.training.divergence import NonFiniteValue, TrainingDiverged, diverged

_PLATEAU_SCHEDULERS = (torch.optim.lr_scheduler.ReduceLROnPlateau, GreedyLR)  # stepped on eval metrics, not per update


class OwnedStepLoop:
    """Mix in before a transformers Trainer: its epoch loop calls :meth:`update` once per optimizer step."""

    guarded_model = "policy"
    _bad_loss: Optional[torch.Tensor] = None
    """0 while the step's micro-batch losses are finite, non-finite once one was not (kept on the device: no sync)."""

    # --- one optimizer step ---------------------------------------------------------------------------------------
    def update(self, model: Any, micro_batches: list) -> tuple[Optional[float], float]:
        """One optimizer step over ``micro_batches`` (gradient accumulation); returns (grad norm, learning rate)."""
        for i, inputs in enumerate(micro_batches):
            self.backward(model, self._prepare_inputs(inputs), last=i == len(micro_batches) - 1)
        return self.optimizer_step(model)

    def backward(self, model: Any, inputs: dict, last: bool) -> torch.Tensor:
        """The micro-batch's loss (its mean over the accumulated micro-batches) and its backward pass; gradients are
        synchronised over processes on the ``last`` micro-batch of the step only."""
        acc = self.accelerator
        acc.gradient_state._set_sync_gradients(last)  # the accelerated optimizer and clipping act on sync steps only
        deepspeed = acc.distributed_type == DistributedType.DEEPSPEED
        sync_each = acc.gradient_state.plugin_kwargs.get("sync_each_batch", False)
        with contextlib.nullcontext() if last or deepspeed or sync_each else acc.no_sync(model=model):
            with self.compute_loss_context_manager():
                loss = self.compute_loss(model, inputs) / self.current_gradient_accumulation_steps
            acc.backward(loss, **({"scale_wrt_gas": False} if deepspeed else {}))
        loss = loss.detach()
        self._tr_loss += loss
        self._watch_loss(loss)
        if not last:
            self.control = self.callback_handler.on_substep_end(self.args, self.state, self.control)
        return loss

    def optimizer_step(self, model: Any) -> tuple[Optional[float], float]:
        """Clip, refuse a non-finite loss or gradient norm, step the optimizer and the schedule; (grad norm, lr)."""
        norm = self._clip_grad_norm(model) if self.args.max_grad_norm > 0 else None
        norm = self._get_grad_norm(model, grad_norm=norm)
        self._refuse_non_finite_step(norm)
        self.control = self.callback_handler.on_pre_optimizer_step(self.args, self.state, self.control)
        self.optimizer.step()
        self.control = self.callback_handler.on_optimizer_step(self.args, self.state, self.control)
        learning_rate = self._get_learning_rate()  # the rate this step used, before the schedule moves on
        if not self.accelerator.optimizer_step_was_skipped and not isinstance(self.lr_scheduler, _PLATEAU_SCHEDULERS):
            self.lr_scheduler.step()
        model.zero_grad()
        return norm, learning_rate

    def record_step_time(self, seconds: float) -> None:
        """Where a trainer logs how long :meth:`update` took (nowhere by default)."""

    # --- the epoch around it (transformers calls this once per epoch) ------------------------------------------------
    def _run_epoch(
        self,
        model,
        epoch,
        train_dataloader,
        steps_in_epoch,
        num_update_steps_per_epoch,
        trial,
        ignore_keys_for_eval,
        start_time,
        resume_from_checkpoint,
        epochs_trained,
        steps_trained_in_current_epoch,
    ):
        ga = self.args.gradient_accumulation_steps
        consumed, done, sync_rng = 0, 0, False  # micro-batches and updates of this epoch already behind us
        if epoch == epochs_trained and resume_from_checkpoint is not None:
            if steps_trained_in_current_epoch > 0 and not self.args.ignore_data_skip:
                train_dataloader = skip_first_batches(train_dataloader, steps_trained_in_current_epoch)
                consumed, done, sync_rng = steps_trained_in_current_epoch, steps_trained_in_current_epoch // ga, True
            elif steps_trained_in_current_epoch == 0:
                self._load_rng_state(resume_from_checkpoint)
        self._set_epoch(train_dataloader, epoch)
        batches = iter(train_dataloader)
        grad_norm = learning_rate = None
        for update_step in range(done, num_update_steps_per_epoch):
            last_update = update_step == num_update_steps_per_epoch - 1
            wanted = ga if not last_update or steps_in_epoch % ga == 0 else steps_in_epoch % ga
            # Not transformers' get_batch_samples: it also counts (and, across processes, gathers) label tokens for
            # a loss normaliser our losses do not take.
            micro_batches = list(itertools.islice(batches, wanted))
            if not micro_batches:
                break
            self.current_gradient_accumulation_steps = len(micro_batches)
            if sync_rng:  # the skipped batches drew from the RNG: restore the checkpoint's state after them
                self._load_rng_state(resume_from_checkpoint)
                sync_rng = False
            for inputs in micro_batches:
                self.current_flos += float(self.floating_point_ops(inputs))
                self._track_num_input_tokens(inputs)
            self.control = self.callback_handler.on_step_begin(self.args, self.state, self.control)
            model.train()  # sampling and its metrics too: a held-out evaluation may have left eval mode on
            if callable(getattr(self.optimizer, "train", None)):  # schedule-free optimizers keep a mode as well
                self.optimizer.train()
            started = time.perf_counter()
            try:
                grad_norm, learning_rate = self.update(model, micro_batches)
            except NonFiniteValue as exc:  # raised inside the step (e.g. by the discriminator's update)
                raise self._diverged(exc.quantity, exc.value) from None
            self.record_step_time(time.perf_counter() - started)
            consumed += len(micro_batches)
            self.state.global_step += 1
            self.state.epoch = epoch + consumed / steps_in_epoch
            self.control = self.callback_handler.on_step_end(self.args, self.state, self.control)
            self._maybe_log_save_evaluate(
                self._tr_loss, grad_norm, model, trial, epoch, ignore_keys_for_eval, start_time, learning_rate
            )
            if self.control.should_epoch_stop or self.control.should_training_stop:
                break
        if consumed == 0:
            self.control.should_training_stop = True  # an empty epoch: nothing left to train on
        self.control = self.callback_handler.on_epoch_end(self.args, self.state, self.control)
        self._maybe_log_save_evaluate(
            self._tr_loss, grad_norm, model, trial, epoch, ignore_keys_for_eval, start_time, learning_rate
        )

    @staticmethod
    def _set_epoch(train_dataloader: Any, epoch: int) -> None:
        """The epoch's data order: the sampler draws it from (seed, epoch). accelerate's loader does not forward
        ``set_epoch`` to a batch sampler it wraps, so that one is reached directly."""
        if hasattr(train_dataloader, "set_epoch"):
            train_dataloader.set_epoch(epoch)
        inner = getattr(getattr(train_dataloader, "batch_sampler", None), "batch_sampler", None)
        if hasattr(inner, "set_epoch"):
            inner.set_epoch(epoch)

    # --- the divergence guard ----------------------------------------------------------------------------------------
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

    def _watch_loss(self, loss: torch.Tensor) -> None:
        value = loss.float().sum()
        bad = torch.where(torch.isfinite(value), torch.zeros_like(value), value)
        self._bad_loss = bad if self._bad_loss is None else self._bad_loss + bad

    def _refuse_non_finite_step(self, grad_norm: Any) -> None:
        bad = self._bad_loss if self._bad_loss is not None else torch.zeros(())
        self._bad_loss = None
        # A loss that is NaN in one process only must stop them all: every process calls this at the same step.
        bad = self.accelerator.reduce(bad.to(self.accelerator.device).reshape(1), reduction="sum").item()
        if not math.isfinite(bad):
            raise self._diverged(f"{self.guarded_model} loss", bad)
        norm = float(grad_norm) if grad_norm is not None else 0.0
        if not math.isfinite(norm):
            raise self._diverged(f"{self.guarded_model} grad norm", norm)

    def _diverged(self, quantity: str, value: float) -> TrainingDiverged:
        # global_step counts the steps already applied: the one that failed is the next.
        return diverged(quantity, value, self.state.global_step + 1, Path(self.args.output_dir))
