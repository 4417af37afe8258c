"""VeriFree (``method.reward_source=verifree``): GRPO's sampling with the reference answer's likelihood as the reward.

No grader: the policy is paid its own probability of the reference answer after its reasoning
(reasoning_irl.training.reference_answer has the estimator). The verifiable ``method.rewards`` are scored and logged
for comparison, never used.
"""

from __future__ import annotations

import time

import torch

from reasoning_irl.models.prefix_cache import unpadded
from reasoning_irl.training.policy_loss import batch_completion_logps
from reasoning_irl.training.reference_answer import region_masks, verifree_advantages, with_reference_answers
from reasoning_irl.training.trl_adapter import ReasoningGRPOTrainer


class ReasoningVeriFreeTrainer(ReasoningGRPOTrainer):
    """GRPO whose completions end in the reference answer and whose advantages are VeriFree's."""

    def update(self, model, micro_batches):
        """One policy optimizer step (a generated batch feeds ``num_iterations`` of them, as in GRPO)."""
        for i, generation_rows in enumerate(micro_batches):
            if self.generation_due():
                # 1. Sample G completions per prompt (TRL logs their verifiable rewards; none is used).
                sampled, _ = self.sample(generation_rows)
                t0 = time.perf_counter()
                # 2. Keep each sample's reasoning tokens, append its reference answer and the stop token.
                sampled_ids = unpadded(sampled["completion_ids"], sampled["completion_mask"])
                tokenizer = self.policy_tokenizer
                rewritten = with_reference_answers(tokenizer, sampled_ids, generation_rows, tokenizer.eos_token_id)
                batch = self.with_completions(sampled, rewritten.completions)
                reasoning, answer = region_masks(batch["completion_mask"], rewritten.answer_start)
                # 3. R = π(y* | x, z) under the current policy (0 where no answer tag was written).
                likelihood = self._answer_likelihood(batch, answer)
                # 4. RLOO on R for the reasoning tokens, R itself for the answer tokens.
                batch["advantages"] = self._advantages(likelihood, reasoning, answer)
                self.record("reward/answer_likelihood", likelihood.mean().item())
                self.record("reward/answer_appended", (answer.sum(1) > 0).float().mean().item())
                self.record("time/reference_answer", time.perf_counter() - t0)
                self.buffer(batch)
            # 5. The clipped policy loss of this micro-batch on those advantages, backward.
            self.backward(model, self.next_micro_batch(), last=i == len(micro_batches) - 1)
        # 6. The optimizer step.
        return self.optimizer_step(model)

    def _answer_likelihood(self, batch, answer: torch.Tensor) -> torch.Tensor:
        """(B,) probability of each row's appended answer tokens under the current policy, at temperature 1 (the
        likelihood of y*, not of a sample); 0 for a row with no appended answer."""
        logps = batch_completion_logps(self.model, batch, self.args.per_device_train_batch_size)
        appended = answer.sum(1) > 0
        return torch.where(appended, (logps * answer).sum(1).exp(), torch.zeros_like(logps[:, 0]))

    def _advantages(self, likelihood: torch.Tensor, reasoning: torch.Tensor, answer: torch.Tensor) -> torch.Tensor:
        """(B_local, T) advantages; a group may span processes, so the baseline is taken over the gathered batch."""
        acc = self.accelerator
        all_likelihood = acc.gather(likelihood)
        width = acc.gather(torch.tensor([reasoning.size(1)], device=reasoning.device)).max().item()
        pad = (0, width - reasoning.size(1))
        all_reasoning = acc.gather(torch.nn.functional.pad(reasoning.float(), pad))
        all_answer = acc.gather(torch.nn.functional.pad(answer.float(), pad))
        adv = verifree_advantages(all_likelihood, all_reasoning, all_answer, self.num_generations)
        n = likelihood.size(0)
        return adv[self.row_offset(n) : self.row_offset(n) + n, : reasoning.size(1)]
