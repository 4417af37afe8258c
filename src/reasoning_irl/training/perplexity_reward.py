"""The perplexity reward (``method.reward_source=perplexity``): GRPO paid by a frozen LM's reading of the answer.

After each sample's reasoning (its tokens up to its first ``<answer>``, or all of them when it wrote none) a frozen
LM (``method.reference_lm``; in the miniature the clean base policy) reads the reference answer; the sample's reward
is the mean log-probability of those answer tokens, plus the weighted verifiable rewards with ``method.hybrid``
("Designing Good Rewards for Reinforcement Learning on LLMs": a frozen pretrained LM's logits as the reward, alone
or with correctness). The policy trains on its own samples with GRPO's group-normalised sequence advantages; the
appended answer only scores them.
"""

from __future__ import annotations

import time
from typing import Any

import torch

from reasoning_irl.models.loading import padding_id
from reasoning_irl.models.prefix_cache import padded, unpadded
from reasoning_irl.training.advantages import group_normalize
from reasoning_irl.training.policy_loss import batch_completion_logps
from reasoning_irl.training.reference_answer import region_masks, with_reference_answers
from reasoning_irl.training.trl_adapter import ReasoningGRPOTrainer


def scaled_advantages(rewards: torch.Tensor, group: int, scale: str) -> torch.Tensor:
    """(B,) GRPO advantages of sequence rewards: centred on the group's mean, divided by the group's std
    (``scale="group"``), the batch's (``"batch"``), or not at all (``"none"``); 0 in a group of equal rewards."""
    if scale == "group":
        return group_normalize(rewards, group)
    by_group = rewards.float().view(-1, group)
    centred = (by_group - by_group.mean(dim=1, keepdim=True)).reshape(-1)
    if scale == "batch":
        return centred / (rewards.float().std(unbiased=False) + 1e-4)
    return centred


class ReasoningPerplexityTrainer(ReasoningGRPOTrainer):
    """GRPO whose sequence reward is a frozen LM's mean log-probability of the reference answer."""

    def __init__(self, *args, frozen_lm: torch.nn.Module, method: Any, **kwargs):
        super().__init__(*args, **kwargs)
        self.method = method
        self.frozen_lm = frozen_lm.to(self.accelerator.device)

    def update(self, model, micro_batches):
        """One policy optimizer step (a generated batch feeds ``num_iterations`` of them, as in GRPO)."""
        for i, generation_rows in enumerate(micro_batches):
            if self.generation_due():
                # 1. Sample G completions per prompt; TRL scores the verifiable rewards (their weighted sum).
                batch, verifiable = self.sample(generation_rows)
                t0 = time.perf_counter()
                # 2. The frozen LM reads each sample's reasoning and then the reference answer.
                score = self._frozen_answer_score(batch, generation_rows)
                # 3. The sequence reward, alone or with the verifiable rewards, and its GRPO advantages.
                rewards = self.accelerator.gather(score)  # groups may span processes
                if self.method.hybrid:
                    rewards = rewards + verifiable.to(rewards.device)
                advantages = scaled_advantages(rewards, self.num_generations, self.method.scale_rewards)
                start = self.row_offset(len(score))
                batch["advantages"] = advantages[start : start + len(score)]
                self.record("reward/answer_logp", score.mean().item())
                self.record("reward/total", rewards.mean().item())
                self.record("time/reference_answer", time.perf_counter() - t0)
                self.buffer(batch)
            # 4. The clipped policy loss on the samples themselves, backward.
            self.backward(model, self.next_micro_batch(), last=i == len(micro_batches) - 1)
        # 5. The optimizer step.
        return self.optimizer_step(model)

    @torch.no_grad()
    def _frozen_answer_score(self, batch: dict, rows: list[dict]) -> torch.Tensor:
        """(B,) mean log-probability of each row's reference answer tokens (its stop token included) under the
        frozen LM, at temperature 1, after the row's prompt and sampled reasoning."""
        tokenizer = self.policy_tokenizer
        sampled = unpadded(batch["completion_ids"], batch["completion_mask"])
        rewritten = with_reference_answers(tokenizer, sampled, rows, tokenizer.eos_token_id, untagged="append")
        ids, mask = padded(rewritten.completions, padding_id(tokenizer), device=batch["completion_ids"].device)
        _, answer = region_masks(mask, rewritten.answer_start)
        read = {**batch, "completion_ids": ids, "completion_mask": mask}
        logps = batch_completion_logps(self.frozen_lm, read, self.args.per_device_train_batch_size)
        return (logps * answer).sum(1) / answer.sum(1).clamp(min=1)
