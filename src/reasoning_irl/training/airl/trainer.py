"""The AIRL trainer: GRPO whose per-token advantages come from a discriminator's dense reward.

One step (``_generate_and_score_completions``):
1. TRL samples G completions per prompt (optionally one of them replaced by the expert trace);
2. the discriminator batch is built: experts vs policy samples and K perturbed experts, each row
   with its own prompt (reasoning_irl.training.airl.batch); with ``structured_discriminator`` every
   row's tokens are also scored by the current policy (the log π of AIRL's D = exp(f) / (exp(f) + π));
3. the discriminator takes ``disc_updates_per_step`` optimizer steps;
4. every policy row is scored by the updated discriminator: token reward = logit / temperature (minus the
   policy's log π of the token with ``policy_reward: f_minus_logpi``, AIRL's log D - log(1-D));
5. (B, T) advantages from the registry estimator (+ optional verifiable outcome mix);
6. our clipped GRPO loss (ReasoningGRPOTrainer.compute_loss) updates the policy.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

import torch
from accelerate.utils import gather_object

from reasoning_irl.rewards import get_reward_functions
from reasoning_irl.runs import publish_folder
from reasoning_irl.training.advantages import compute_advantages, mean_token_reward, mix_outcome
from reasoning_irl.training.airl.batch import DiscRow, build_disc_batch
from reasoning_irl.training.airl.config import AIRLMethod
from reasoning_irl.training.airl.discriminator import Discriminator, cached_prompt_ids, right_pad
from reasoning_irl.training.checkpointing import STAGING, safe_load
from reasoning_irl.training.policy_loss import completion_logps
from reasoning_irl.training.trainers import ReasoningGRPOTrainer

AIRL_STATE = "airl_state.pt"
RANK_RNGS = "rng_per_process"
"""Key in AIRL_STATE: every process's perturbation RNG state, by process index."""
REWARD_MODEL_DIR = "reward_model"


class ReasoningAIRLTrainer(ReasoningGRPOTrainer):
    def __init__(self, *args, discriminator: Discriminator, method: AIRLMethod, **kwargs):
        super().__init__(*args, **kwargs)
        self.disc = discriminator
        self.method = method
        self._outcome_funcs = get_reward_functions(list(method.outcome_rewards))
        self._step_inputs: list[dict[str, Any]] = []
        self._train_ids = list(self.train_dataset["id"])  # pool of disc_extra_experts draws
        self._policy_prompts: dict[str, list[int]] = {}

    # --- sampling, with the expert trace inside the group -------------------------------------------
    def _generate(self, prompts: list):
        out = list(super()._generate(prompts))
        if self.method.expert_in_group == "none":
            return tuple(out)
        prompt_ids, completion_ids, completions, sampling_logps = out[0], out[1], out[3], out[4]
        eos = self._tokenizer.eos_token_id
        offset = self._row_offset(len(completion_ids))
        # The last sample of each group becomes the expert trace; a group may span processes, so the
        # position in the group is that of the row in the step's whole batch, not in this process's share.
        for row in range(len(completion_ids)):
            if not self._is_expert_row(offset + row):
                continue
            target = self._step_inputs[row]["target"]
            ids = self._tokenizer(target, add_special_tokens=False)["input_ids"][: self.max_completion_length - 1] + [eos]
            completion_ids[row] = ids
            if completions is not None:
                completions[row] = [{"role": "assistant", "content": target}] if isinstance(completions[row], list) else target
            if sampling_logps is not None:
                sampling_logps[row] = [float("nan")] * len(ids)  # no sampling log-probs: no IS correction
        return tuple(out)

    def _generate_and_score_completions(self, inputs):
        self._step_inputs = inputs
        output = super()._generate_and_score_completions(inputs)  # logs time/generate itself
        t1 = time.perf_counter()
        mode = "train" if self.model.training else "eval"
        with torch.enable_grad():
            rewards, disc_metrics, t2 = self._airl_rewards(inputs, output, mode)
        output["advantages"] = self._advantages(inputs, output, rewards)
        t3 = time.perf_counter()
        metrics = self._metrics[mode]
        for key, value in disc_metrics.items():
            metrics[key].append(value)
        metrics["time/disc_update"].append(t2 - t1)
        metrics["time/score_and_advantage"].append(t3 - t2)
        return output

    def _airl_rewards(self, inputs, output, mode):
        completion_ids, completion_mask = output["completion_ids"], output["completion_mask"]
        aligned = [self.disc.policy_ids(ids.tolist(), m.tolist()) for ids, m in zip(completion_ids, completion_mask)]
        rows, completions = self._disc_rows(inputs, output, aligned)
        logps = self._policy_logps(rows, completions) if self.method.structured_discriminator else None
        # The update raises NonFiniteValue on a NaN/inf loss or gradient norm; the divergence guard stops the run.
        disc_metrics = self.disc.update(rows, completions, logps) if mode == "train" else {}
        t2 = time.perf_counter()
        rewards = self.disc.token_rewards([r["prompt"] for r in inputs], completion_ids, completion_mask, aligned)
        disc_metrics["reward/token_mean"] = mean_token_reward(rewards, completion_mask).mean().item()
        if self.method.policy_reward == "f_minus_logpi":
            rewards = (rewards - self._sampled_logps(output)) * completion_mask
            disc_metrics["reward/policy_token_mean"] = mean_token_reward(rewards, completion_mask).mean().item()
        return rewards, disc_metrics, t2

    @torch.no_grad()
    def _sampled_logps(self, output) -> torch.Tensor:
        """(B, T) log π of the step's completion tokens under the current policy at the sampling temperature
        (the structured discriminator's shared tokenizer makes them the reward tokens too)."""
        prompt_ids, prompt_mask = output["prompt_ids"], output["prompt_mask"]
        completion_ids, completion_mask = output["completion_ids"], output["completion_mask"]
        ids, mask = torch.cat([prompt_ids, completion_ids], 1), torch.cat([prompt_mask, completion_mask], 1)
        parts = [completion_logps(self.model, ids[c.start:c.stop], mask[c.start:c.stop], completion_ids.size(1),
                                  self.temperature) for c in self.disc._chunks(ids.size(0))]
        return torch.cat(parts).float() * completion_mask

    def _row_offset(self, local_rows: int) -> int:
        """Index of this process's first row in the step's batch over all processes. TRL hands each process
        a contiguous slice of that batch (and slices its own advantages the same way)."""
        return self.accelerator.process_index * local_rows

    def _is_expert_row(self, i: int) -> bool:
        """Whether row ``i`` of the step's batch over all processes (not of one process's share) is an expert."""
        return self.method.expert_in_group != "none" and i % self.num_generations == self.num_generations - 1

    def _disc_rows(self, inputs, output, aligned) -> tuple[list[DiscRow], list[list[int]]]:
        """The step's discriminator rows (each record once, with its own prompt) and their reward-side ids.

        Policy rows are scored on the ids that were sampled (``aligned``), never on a re-tokenisation of
        their text; the expert trace placed in a group is a positive, never a policy negative.
        """
        completion_ids, completion_mask = output["completion_ids"], output["completion_mask"]
        texts = self._tokenizer.batch_decode(
            [ids[m.bool()] for ids, m in zip(completion_ids, completion_mask)], skip_special_tokens=True)
        order: dict[Any, int] = {}
        samples: list[list[str]] = []
        sample_ids: list[list[list[int]]] = []
        offset = self._row_offset(len(inputs))
        for i, row in enumerate(inputs):
            if row["id"] not in order:
                order[row["id"]] = len(order)
                samples.append([])
                sample_ids.append([])
            if not self._is_expert_row(offset + i):
                samples[order[row["id"]]].append(texts[i])
                sample_ids[order[row["id"]]].append(aligned[i][0])
        records = [next(r for r in inputs if r["id"] == rid) for rid in order]
        extra = self._extra_experts(set(order))
        records += extra
        samples += [[] for _ in extra]
        sample_ids += [[] for _ in extra]
        rows = build_disc_batch(records, samples, self.method.perturbations, self.method.perturbations_per_expert,
                                self.disc.rng)
        # build_disc_batch keeps each record's samples in order: hand out their ids in that order too.
        queues = [iter(ids) for ids in sample_ids]
        completions = [next(queues[r.source_index]) if r.kind == "policy" else self.disc.text_ids(r.completion)
                       for r in rows]
        return rows, completions

    @torch.no_grad()
    def _policy_logps(self, rows: list[DiscRow], completions: list[list[int]]) -> list[torch.Tensor]:
        """log π of every completion token of every row under the current policy, at the sampling temperature.

        The completions are reward-side ids, which are the policy's own ids: the structured discriminator
        requires a shared tokenizer. Prompts are left-padded and completions right-padded, as in the policy
        loss, so only completion positions are projected to the vocabulary.
        """
        tok = self._tokenizer
        pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
        device = self.accelerator.device
        out: list[torch.Tensor] = []
        for chunk in self.disc._chunks(len(rows)):
            prompts = [self._policy_prompt(rows[i].prompt) for i in chunk]
            width = max(len(p) for p in prompts)
            prompt_ids = torch.full((len(prompts), width), pad, dtype=torch.long)
            prompt_mask = torch.zeros_like(prompt_ids)
            for k, p in enumerate(prompts):
                prompt_ids[k, width - len(p):] = torch.tensor(p, dtype=torch.long)
                prompt_mask[k, width - len(p):] = 1
            prompt_ids, prompt_mask = prompt_ids.to(device), prompt_mask.to(device)
            comp_ids, comp_mask = right_pad([completions[i] for i in chunk], pad, device)
            logps = completion_logps(self.model, torch.cat([prompt_ids, comp_ids], 1),
                                     torch.cat([prompt_mask, comp_mask], 1), comp_ids.size(1), self.temperature)
            out += [logps[k, : len(completions[i])].float() for k, i in enumerate(chunk)]
        return out

    def _policy_prompt(self, messages: list[dict[str, str]]) -> list[int]:
        return cached_prompt_ids(self._tokenizer, messages, self._policy_prompts)

    def _extra_experts(self, taken: set) -> list[dict]:
        """``disc_extra_experts`` training records other than the step's own, drawn with the discriminator's
        RNG (saved in checkpoints, so a resumed run draws the same ones)."""
        k = self.method.disc_extra_experts
        if k == 0:
            return []
        pool = [i for i, rid in enumerate(self._train_ids) if rid not in taken]
        return [self.train_dataset[i] for i in self.disc.rng.sample(pool, min(k, len(pool)))]

    def _advantages(self, inputs, output, rewards: torch.Tensor) -> torch.Tensor:
        """(B_local, T) advantages; groups may span processes, so they are computed on the gathered batch."""
        mask = output["completion_mask"].float()
        acc = self.accelerator
        all_rewards = acc.gather(acc.pad_across_processes(rewards, dim=1))
        all_mask = acc.gather(acc.pad_across_processes(mask, dim=1))
        m = self.method
        adv = compute_advantages(m.advantage, all_rewards, all_mask, self.num_generations, gamma=m.gamma,
                                 normalize=m.normalize_rewards)
        outcome = self._outcome(inputs, output)
        all_outcome = acc.gather(outcome)
        if m.outcome_reward_weight:
            adv = mix_outcome(adv, all_outcome, all_mask, self.num_generations, m.outcome_reward_weight)
        expert = torch.tensor([self._is_expert_row(i) for i in range(adv.size(0))], device=adv.device)
        if m.expert_in_group == "balanced":
            adv[expert] = adv[expert] / self.num_generations
        mode = "train" if self.model.training else "eval"
        valid = all_mask.bool()
        self._metrics[mode]["advantage/mean"].append(adv[valid].mean().item())
        self._metrics[mode]["advantage/std"].append(adv[valid].std().item() if valid.sum() > 1 else 0.0)
        self._metrics[mode]["advantage/abs_max"].append(adv[valid].abs().max().item())
        self._metrics[mode]["outcome/mean"].append(all_outcome.mean().item())
        # The policy's own accuracy: expert rows placed in the groups are always correct and would inflate it.
        self._metrics[mode]["outcome/policy_mean"].append(all_outcome[~expert.to(all_outcome.device)].mean().item())
        rank, n = acc.process_index, rewards.size(0)
        return adv[rank * n: (rank + 1) * n, : rewards.size(1)].to(rewards.device)

    def _outcome(self, inputs, output) -> torch.Tensor:
        """Summed verifiable outcome rewards of the local rows (logged always, mixed in when weighted)."""
        texts = self._tokenizer.batch_decode(
            [ids[m.bool()] for ids, m in zip(output["completion_ids"], output["completion_mask"])], skip_special_tokens=True)
        columns = {k: [row.get(k) for row in inputs] for k in ("answer", "options") if k in inputs[0]}
        total = [0.0] * len(texts)
        for fn in self._outcome_funcs:
            values = fn(prompts=[r["prompt"] for r in inputs], completions=texts, **columns)
            total = [a + (b or 0.0) for a, b in zip(total, values)]
        return torch.tensor(total, dtype=torch.float32, device=output["completion_ids"].device)

    # --- policy loss (its NaN/inf is stopped by the divergence guard of ReasoningGRPOTrainer) ------------
    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        t0 = time.perf_counter()
        loss = super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
        self._metrics["train" if self.model.training else "eval"]["time/policy_loss"].append(time.perf_counter() - t0)
        return loss

    # --- checkpoints --------------------------------------------------------------------------------
    def save_extra_state(self, checkpoint_dir: str) -> None:
        super().save_extra_state(checkpoint_dir)  # the policy side: TRL's buffered generation batch
        # Each process perturbs its own records, so each has its own perturbation RNG state (all of them are saved).
        rngs = gather_object([self.disc.rng.getstate()])
        if self.args.should_save:
            self.disc.module.save(Path(checkpoint_dir) / REWARD_MODEL_DIR, tokenizer=self.disc.tokenizer)
            torch.save({**self.disc.state_dict(), RANK_RNGS: rngs}, Path(checkpoint_dir) / AIRL_STATE)

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

    def _load_optimizer_and_scheduler(self, checkpoint):
        super()._load_optimizer_and_scheduler(checkpoint)
        if checkpoint is None:
            return
        from reasoning_irl.models.reward_model import load_reward_weights

        load_reward_weights(self.disc.module, Path(checkpoint) / REWARD_MODEL_DIR)
        state = safe_load(Path(checkpoint) / AIRL_STATE)
        rngs = state.get(RANK_RNGS) or []
        if len(rngs) == self.accelerator.num_processes:  # resumed with as many processes: each takes its own
            state["rng"] = rngs[self.accelerator.process_index]
        self.disc.load_state_dict(state)
