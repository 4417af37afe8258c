"""Our TRL trainer subclasses. They own their loss: a patched ``trl`` class (e.g. by unsloth) cannot swap it."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from trl import GRPOTrainer, SFTTrainer

from reasoning_irl.training.checkpointing import AtomicCheckpointMixin
from reasoning_irl.training.policy_loss import clipped_policy_loss, completion_logps


def completion_cross_entropy(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean next-token cross entropy over positions whose label is not -100 (the completion tokens)."""
    shift_logits = logits[:, :-1, :].float()
    shift_labels = labels[:, 1:]
    return F.cross_entropy(shift_logits.reshape(-1, shift_logits.size(-1)), shift_labels.reshape(-1), ignore_index=-100)


class ReasoningSFTTrainer(AtomicCheckpointMixin, SFTTrainer):
    """TRL's SFTTrainer (data handling, completion-only masks) with our own loss and atomic checkpoints."""

    loss_impl = "reasoning_irl.completion_cross_entropy"
    # Our loss is a micro-batch mean; the Trainer divides it by the accumulation steps.
    loss_is_scaled_for_ga = False

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        model_inputs = {k: v for k, v in inputs.items() if k in ("input_ids", "attention_mask", "position_ids")}
        outputs = model(**model_inputs, use_cache=False)
        loss = completion_cross_entropy(outputs.logits, inputs["labels"])
        return (loss, outputs) if return_outputs else loss


class ReasoningGRPOTrainer(AtomicCheckpointMixin, GRPOTrainer):
    """TRL's GRPOTrainer (sampling, rewards, reference model) with our own clipped policy loss.

    ``inputs["advantages"]`` may be (B,) or (B, T); the AIRL trainer supplies per-token advantages.
    """

    loss_impl = "reasoning_irl.clipped_policy_loss"
    loss_is_scaled_for_ga = True  # compute_loss divides by the accumulation steps itself

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        if return_outputs:
            raise ValueError("the GRPO loss has no model outputs to return")
        completion_ids, completion_mask = inputs["completion_ids"], inputs["completion_mask"]
        input_ids = torch.cat([inputs["prompt_ids"], completion_ids], dim=1)
        attention_mask = torch.cat([inputs["prompt_mask"], completion_mask], dim=1)
        logps = completion_logps(model, input_ids, attention_mask, completion_ids.size(1), self.temperature)
        old = inputs.get("old_per_token_logps")
        out = clipped_policy_loss(
            logps,
            logps.detach() if old is None else old,
            inputs["advantages"],
            completion_mask,
            epsilon_low=self.epsilon_low,
            epsilon_high=self.epsilon_high,
            beta=self.beta,
            ref_logps=inputs.get("ref_per_token_logps"),
            loss_type=self.loss_type,
            max_completion_length=self.max_completion_length,
        )
        mode = "train" if self.model.training else "eval"
        gather = self.accelerator.gather
        if out.kl is not None:
            self._metrics[mode]["kl"].append(gather(out.kl.detach()).mean().item())
        self._metrics[mode]["clip_ratio"].append(gather(out.clip_fraction.detach()).mean().item())
        self._metrics[mode]["policy_loss"].append(gather(out.loss.detach()).mean().item())
        if mode == "train":
            return out.loss / self.current_gradient_accumulation_steps
        return out.loss
