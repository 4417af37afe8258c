"""The AIRL trainer: GRPO whose per-token advantages come from a discriminator's dense reward.

One update is :meth:`ReasoningAIRLTrainer.update`, read top to bottom: sample -> discriminator batch ->
discriminator optimizer steps -> token rewards -> advantages -> policy loss -> the policy's optimizer step.
The pieces it calls are below it in that order; sampling, the loss's backward pass and the optimizer step come from
:class:`~reasoning_irl.training.trl_adapter.ReasoningGRPOTrainer` (the one module that touches TRL's internals).
"""

from __future__ import annotations

import math
import shutil
import time
from pathlib import Path
from typing import Any, Optional

import torch
from accelerate.utils import DistributedType, gather_object

from reasoning_irl.config import ConfigError
from reasoning_irl.models.loading import padding_id
from reasoning_irl.models.prefix_cache import padded, worth_sharing
from reasoning_irl.models.reward_model import load_reward_weights
from reasoning_irl.models.scoring import cached_prompt_ids
from reasoning_irl.models.token_alignment import Alignment
from reasoning_irl.runs import publish_folder
from reasoning_irl.training.advantages import compute_advantages, group_concordance, mean_token_reward, mix_outcome
from reasoning_irl.training.airl.batch import DiscRow, build_outcome_batch
from reasoning_irl.training.airl.config import AIRLMethod
from reasoning_irl.training.airl.discriminator import Discriminator
from reasoning_irl.training.checkpointing import STAGING, safe_load
from reasoning_irl.training.policy_loss import completion_logps, shared_prompt_logps
from reasoning_irl.training.trl_adapter import ReasoningGRPOTrainer

AIRL_STATE = "airl_state.pt"
RANK_RNGS = "rng_per_process"
"""Key in AIRL_STATE: every process's perturbation RNG state, by process index."""
REWARD_MODEL_DIR = "reward_model"


def check_accelerator(accelerator: Any) -> None:
    """The setups a second optimizer, stepped on its own schedule, cannot share with the policy's."""
    if accelerator.distributed_type == DistributedType.DEEPSPEED or accelerator.mixed_precision == "fp16":
        # Both share one engine / loss scaler between two optimizers that step on different schedules.
        raise ConfigError("AIRL supports neither DeepSpeed nor fp16 mixed precision (use bf16 or fp32)")
    if accelerator.distributed_type == DistributedType.FSDP:
        # The discriminator averages its gradients itself, once per update (processes run different numbers of
        # backward passes); that needs whole, DDP-replicated parameters, not FSDP shards.
        raise ConfigError("AIRL runs on one process or with DDP (configs/accelerate/ddp.yaml), not FSDP")


class ReasoningAIRLTrainer(ReasoningGRPOTrainer):
    """TRL's GRPO trainer (``reward_funcs`` are the method's outcome rewards) with a discriminator's token rewards."""

    def __init__(self, *args, discriminator: Discriminator, method: AIRLMethod, **kwargs):
        super().__init__(*args, **kwargs)
        check_accelerator(self.accelerator)
        self.method = method
        # One discriminator update round per generated batch, and a batch feeds num_iterations policy steps.
        generations = math.ceil(self.args.max_steps / self.num_iterations)
        self.disc = discriminator.prepare(self.accelerator, generations * max(method.disc_updates_per_step, 1))
        self._train_ids = list(self.train_dataset["id"])  # pool of disc_extra_experts draws
        columns = self.train_dataset.column_names
        self._has_demonstration = (
            list(self.train_dataset["has_demonstration"])
            if "has_demonstration" in columns
            else [True] * len(self._train_ids)
        )
        self._policy_prompts: dict[str, list[int]] = {}

    # --- one AIRL update ----------------------------------------------------------------------------------------
    def update(self, model, micro_batches):
        """One policy optimizer step. A generated batch feeds ``num_iterations`` of them (and ``steps_per_generation``
        micro-batches each); the discriminator trains once per generated batch, before the policy uses it."""
        for i, generation_rows in enumerate(micro_batches):
            if self.generation_due():
                # 1. Sample G completions per prompt, the expert trace in each group (expert_completion), and score
                #    their verifiable outcome rewards (logged; mixed in only with outcome_reward_weight).
                batch, outcome = self.sample(generation_rows)
                t1 = time.perf_counter()
                # 2. The discriminator batch: experts vs policy samples and K perturbed experts (or, with outcome
                #    labels, the samples labelled by their outcome), each row with its own prompt, on the reward
                #    model's ids of the samples.
                aligned = self._reward_side_ids(batch)
                rows, completions = self._disc_rows(generation_rows, batch, aligned, outcome)
                # 3. The discriminator's optimizer steps (disc_updates_per_step). A NaN/inf loss or gradient norm
                #    raises NonFiniteValue, and the step loop stops the run before anything is applied.
                for key, value in self._update_discriminator(rows, completions).items():
                    self.record(key, value)
                t2 = time.perf_counter()
                # 4. Token rewards of the policy's samples from the updated discriminator.
                rewards = self._token_rewards(generation_rows, batch, aligned)
                # 5. (B, T) advantages from the registry estimator (+ an optional outcome mix).
                batch["advantages"] = self._advantages(batch, rewards, outcome)
                self.record("time/disc_update", t2 - t1)
                self.record("time/score_and_advantage", time.perf_counter() - t2)
                self.buffer(batch)
            # 6. The policy loss (our clipped GRPO loss on the token advantages) of this micro-batch, backward.
            t0 = time.perf_counter()
            self.backward(model, self.next_micro_batch(), last=i == len(micro_batches) - 1)
            self.record("time/policy_loss", time.perf_counter() - t0)
        # 7. The policy's optimizer step: clip, refuse a non-finite loss or norm, step.
        return self.optimizer_step(model)

    # --- 1. the expert trace inside each group ------------------------------------------------------------
    def expert_completion(self, batch_row: int, row: int) -> Optional[list[int]]:
        """The last sample of each group becomes the expert trace (cut to the completion length, stop token last);
        a group may span processes, so the position in the group is that of the row in the step's whole batch."""
        record = self.step_inputs[row]
        if not self._is_expert_row(batch_row, record):
            return None
        target = record["target"]
        ids = self.policy_tokenizer(target, add_special_tokens=False)["input_ids"][: self.max_completion_length - 1]
        return ids + [self.policy_tokenizer.eos_token_id]

    def _is_expert_row(self, i: int, record: dict) -> bool:
        """Whether row ``i`` of the step's batch over all processes (not of one process's share), a row of
        ``record``, is an expert: the last of its group, where the record has a demonstration."""
        last = i % self.num_generations == self.num_generations - 1
        return self.method.expert_in_group != "none" and last and record.get("has_demonstration", True)

    def _expert_mask(self) -> torch.Tensor:
        """(B,) over all processes: which rows of the step's batch are expert traces."""
        rows = self.step_inputs
        offset = self.row_offset(len(rows))
        flags = [self._is_expert_row(offset + i, row) for i, row in enumerate(rows)]
        return self.accelerator.gather(torch.tensor(flags, device=self.accelerator.device))

    # --- 2. the discriminator batch -----------------------------------------------------------------
    def _reward_side_ids(self, output) -> list[tuple[list[int], Alignment]]:
        """Every sample's completion in the reward model's ids, with the map back to its policy tokens."""
        return [
            self.disc.policy_ids(ids.tolist(), m.tolist())
            for ids, m in zip(output["completion_ids"], output["completion_mask"])
        ]

    def _disc_rows(self, inputs, output, aligned, outcome) -> tuple[list[DiscRow], list[list[int]]]:
        """The step's discriminator rows (each record once, with its own prompt) and their reward-side ids.

        Policy rows are scored on the ids that were sampled (``aligned``), never on a re-tokenisation of
        their text; the expert trace placed in a group is a positive, never a policy negative. With outcome
        labels each sample is labelled by its entry of ``outcome`` (the step's (B,) over all processes).
        """
        completion_ids, completion_mask = output["completion_ids"], output["completion_mask"]
        texts = self.policy_tokenizer.batch_decode(
            [ids[m.bool()] for ids, m in zip(completion_ids, completion_mask)], skip_special_tokens=True
        )
        order: dict[Any, int] = {}
        samples: list[list[str]] = []
        sample_ids: list[list[list[int]]] = []
        outcomes: list[list[float]] = []
        offset = self.row_offset(len(inputs))
        for i, row in enumerate(inputs):
            if row["id"] not in order:
                order[row["id"]] = len(order)
                samples.append([])
                sample_ids.append([])
                outcomes.append([])
            if not self._is_expert_row(offset + i, row):
                samples[order[row["id"]]].append(texts[i])
                sample_ids[order[row["id"]]].append(aligned[i][0])
                outcomes[order[row["id"]]].append(float(outcome[offset + i]))
        records = [next(r for r in inputs if r["id"] == rid) for rid in order]
        if self.method.reward_labels == "outcomes":  # PRIME: the samples alone, graded
            return build_outcome_batch(records, samples, outcomes), [ids for group in sample_ids for ids in group]
        extra = self._extra_experts(set(order))
        records += extra
        samples += [[] for _ in extra]
        sample_ids += [[] for _ in extra]
        rows = self.disc.batch(records, samples)
        # The batch keeps each record's samples in order: hand out their ids in that order too.
        queues = [iter(ids) for ids in sample_ids]
        completions = [
            next(queues[r.source_index]) if r.kind == "policy" else self.disc.text_ids(r.completion) for r in rows
        ]
        return rows, completions

    def _extra_experts(self, taken: set) -> list[dict]:
        """``disc_extra_experts`` training records other than the step's own, drawn with the discriminator's
        RNG (saved in checkpoints, so a resumed run draws the same ones)."""
        k = self.method.disc_extra_experts
        if k == 0:
            return []
        pool = [i for i, rid in enumerate(self._train_ids) if rid not in taken and self._has_demonstration[i]]
        return [self.train_dataset[i] for i in self.disc.draw(pool, k)]

    # --- 3. the discriminator update ----------------------------------------------------------------
    def _update_discriminator(self, rows: list[DiscRow], completions: list[list[int]]) -> dict[str, float]:
        logps = self._policy_logps(rows, completions) if self.method.structured_discriminator else None
        with torch.enable_grad():  # TRL generates under no_grad
            return self.disc.update(rows, completions, logps)

    @torch.no_grad()
    def _policy_logps(self, rows: list[DiscRow], completions: list[list[int]]) -> list[torch.Tensor]:
        """log π of every completion token of every row under the current policy, at the sampling temperature.

        The completions are reward-side ids, which are the policy's own ids: the structured discriminator
        requires a shared tokenizer. The rows of one prompt (its samples, expert and perturbed copies) run it
        once where the policy allows (reasoning_irl.models.prefix_cache); else whole rows, left-padded prompts.
        """
        pad, device = padding_id(self.policy_tokenizer), self.accelerator.device
        prompts = [cached_prompt_ids(self.policy_tokenizer, r.prompt, self._policy_prompts) for r in rows]
        out: list[Optional[torch.Tensor]] = [None] * len(rows)
        for chunk in self.disc.prompt_chunks(prompts):
            chunk_prompts, chunk_completions = [prompts[i] for i in chunk], [completions[i] for i in chunk]
            if worth_sharing(self.model, chunk_prompts):
                logps = shared_prompt_logps(self.model, chunk_prompts, chunk_completions, pad, self.temperature)
            else:
                prompt_ids, prompt_mask = padded(chunk_prompts, pad, side="left", device=device)
                comp_ids, comp_mask = padded(chunk_completions, pad, device=device)
                whole = completion_logps(
                    self.model,
                    torch.cat([prompt_ids, comp_ids], 1),
                    torch.cat([prompt_mask, comp_mask], 1),
                    comp_ids.size(1),
                    self.temperature,
                )
                logps = [whole[k, : len(c)] for k, c in enumerate(chunk_completions)]
            for i, lp in zip(chunk, logps):
                out[i] = lp.float()
        return out  # type: ignore[return-value]

    # --- 4. token rewards ---------------------------------------------------------------------------
    def _token_rewards(self, inputs, output, aligned) -> torch.Tensor:
        """(B, T) rewards of the samples' tokens (0 on padding); their means are logged."""
        completion_ids, completion_mask = output["completion_ids"], output["completion_mask"]
        rewards = self.disc.token_rewards([r["prompt"] for r in inputs], completion_ids, completion_mask, aligned)
        metrics = {"reward/token_mean": mean_token_reward(rewards, completion_mask).mean().item()}
        if self.method.policy_reward == "f_minus_logpi":
            rewards = (rewards - self._sampled_logps(output)) * completion_mask
            metrics["reward/policy_token_mean"] = mean_token_reward(rewards, completion_mask).mean().item()
        for key, value in metrics.items():
            self.record(key, value)
        return rewards

    @torch.no_grad()
    def _sampled_logps(self, output) -> torch.Tensor:
        """(B, T) log π of the step's completion tokens under the current policy at the sampling temperature
        (the structured discriminator's shared tokenizer makes them the reward tokens too)."""
        prompt_ids, prompt_mask = output["prompt_ids"], output["prompt_mask"]
        completion_ids, completion_mask = output["completion_ids"], output["completion_mask"]
        ids, mask = torch.cat([prompt_ids, completion_ids], 1), torch.cat([prompt_mask, completion_mask], 1)
        parts = [
            completion_logps(
                self.model, ids[c.start : c.stop], mask[c.start : c.stop], completion_ids.size(1), self.temperature
            )
            for c in self.disc.chunks(ids.size(0))
        ]
        return torch.cat(parts).float() * completion_mask

    # --- 5. advantages ------------------------------------------------------------------------------
    def _advantages(self, output, rewards: torch.Tensor, outcome: torch.Tensor) -> torch.Tensor:
        """(B_local, T) advantages; groups may span processes, so they are computed on the gathered batch.
        ``outcome`` is the step's (B,) outcome reward over all processes (from :meth:`sample`)."""
        mask = output["completion_mask"].float()
        acc = self.accelerator
        all_rewards = acc.gather(acc.pad_across_processes(rewards, dim=1))
        all_mask = acc.gather(acc.pad_across_processes(mask, dim=1))
        m = self.method
        adv = compute_advantages(
            m.advantage, all_rewards, all_mask, self.num_generations, gamma=m.gamma, normalize=m.normalize_rewards
        )
        if m.outcome_reward_weight:
            adv = mix_outcome(adv, outcome, all_mask, self.num_generations, m.outcome_reward_weight)
        expert = self._expert_mask().to(adv.device)
        if m.expert_in_group == "balanced":
            adv[expert] = adv[expert] / self.num_generations
        valid = all_mask.bool()
        self.record("advantage/mean", adv[valid].mean().item())
        self.record("advantage/std", adv[valid].std().item() if valid.sum() > 1 else 0.0)
        self.record("advantage/abs_max", adv[valid].abs().max().item())
        self.record("outcome/mean", outcome.mean().item())
        # The policy's own accuracy: expert rows placed in the groups are always correct and would inflate it.
        self.record("outcome/policy_mean", outcome[~expert.to(outcome.device)].mean().item())
        # Within each group, does the learned reward order the policy's samples as their outcome does?
        scores = mean_token_reward(all_rewards, all_mask)
        agree = group_concordance(scores, outcome.to(scores.device), self.num_generations, ~expert.to(scores.device))
        if agree is not None:
            self.record("reward/outcome_concordance", agree)
        rank, n = acc.process_index, rewards.size(0)
        return adv[rank * n : (rank + 1) * n, : rewards.size(1)].to(rewards.device)

    # --- checkpoints --------------------------------------------------------------------------------
    def save_extra_state(self, checkpoint_dir: str) -> None:
        super().save_extra_state(checkpoint_dir)  # the policy side: TRL's buffered generation batch
        # Each process perturbs its own records, so each has its own perturbation RNG state (all of them are saved).
        state = self.disc.state_dict()
        rngs = gather_object([state["rng"]])
        if self.args.should_save:
            self.disc.module.save(Path(checkpoint_dir) / REWARD_MODEL_DIR, tokenizer=self.disc.tokenizer)
            torch.save({**state, RANK_RNGS: rngs}, Path(checkpoint_dir) / AIRL_STATE)

    def save_final(self, run_dir: Path) -> Path:
        final = super().save_final(run_dir)
        staging = run_dir / STAGING  # emptied by the policy's save_final: it holds only the reward model now
        if self.args.should_save:
            self.disc.module.save(staging / REWARD_MODEL_DIR, tokenizer=self.disc.tokenizer)
        self._refuse_non_finite(staging, REWARD_MODEL_DIR, run_dir)
        if self.args.should_save:
            publish_folder(staging / REWARD_MODEL_DIR, run_dir / REWARD_MODEL_DIR)
            shutil.rmtree(staging, ignore_errors=True)
        self.accelerator.wait_for_everyone()
        return final

    def load_extra_state(self, checkpoint: Path) -> None:
        load_reward_weights(self.disc.module, checkpoint / REWARD_MODEL_DIR)
        state = safe_load(checkpoint / AIRL_STATE)
        rngs = state.get(RANK_RNGS) or []
        if len(rngs) == self.accelerator.num_processes:  # resumed with as many processes: each takes its own
            state["rng"] = rngs[self.accelerator.process_index]
        self.disc.load_state_dict(state)
