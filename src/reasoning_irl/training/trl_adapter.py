"""TRL behind one module: the only file of the project that imports ``trl``.

Our trainer subclasses own their loss (a patched ``trl`` class cannot swap it) and their step
(reasoning_irl.training.step_loop: ``update`` per optimizer step). Everything TRL keeps private (its hooks
``_generate``, ``_calculate_rewards``, ``_generate_and_score_completions``, the tuple ``_generate`` returns,
``_metrics``, ``_step``, ``_buffered_inputs``) is read or overridden here and nowhere else; a step reaches it
through the project's own methods: :meth:`ReasoningGRPOTrainer.generation_due`, :meth:`~ReasoningGRPOTrainer.sample`
(a scored group, with its outcome rewards), :meth:`~ReasoningGRPOTrainer.buffer` and
:meth:`~ReasoningGRPOTrainer.next_micro_batch`. A method built on GRPO (AIRL) subclasses
:class:`ReasoningGRPOTrainer`, writes its own ``update`` from those and overrides only the project's hooks:
:meth:`~ReasoningGRPOTrainer.expert_completion` (a completion placed in a group in place of a sample),
:meth:`~ReasoningGRPOTrainer.record` (a logged metric) and :meth:`~ReasoningGRPOTrainer.load_extra_state` (what its
``save_extra_state`` wrote). The config classes come from here too.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any, Optional

import torch
import torch.nn.functional as F
import trl.trainer.utils as trl_utils
from trl import GRPOConfig, GRPOTrainer, SFTConfig, SFTTrainer
from trl.trainer.utils import RepeatSampler, shuffle_sequence_dict, split_tensor_dict, use_adapter

from reasoning_irl.models.loading import padding_id
from reasoning_irl.models.prefix_cache import padded
from reasoning_irl.training.checkpointing import AtomicCheckpointMixin, safe_load
from reasoning_irl.training.held_out import HeldOutEvalMixin
from reasoning_irl.training.policy_loss import clipped_policy_loss, completion_logps
from reasoning_irl.training.step_loop import OwnedStepLoop

__all__ = [
    "GRPOConfig",  # the config classes, for the run builders: they import nothing from trl themselves
    "SFTConfig",
    "ReasoningGRPOTrainer",
    "ReasoningSFTTrainer",
    "GENERATION_BUFFER",
    "completion_cross_entropy",
    "trl_scores_on",
]


def completion_cross_entropy(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean next-token cross entropy over positions whose label is not -100 (the completion tokens)."""
    shift_logits = logits[:, :-1, :].float()
    shift_labels = labels[:, 1:]
    return F.cross_entropy(shift_logits.reshape(-1, shift_logits.size(-1)), shift_labels.reshape(-1), ignore_index=-100)


def trl_scores_on(device: torch.device) -> bool:
    """Whether TRL's fused log-prob head runs on ``device``: TRL >= 1.16 (it has ``_use_triton``) anywhere,
    TRL 1.15 only with Triton installed and on CUDA."""
    if getattr(trl_utils, "_ChunkedLogProbFunction", None) is None:
        return False
    return hasattr(trl_utils, "_use_triton") or device.type == "cuda"


def _mean(values) -> Optional[float]:
    finite = [float(v) for v in values if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)]
    return sum(finite) / len(finite) if finite else None


class RankMeanMetricsMixin:
    """Every logged metric is its mean over the processes of a multi-process run.

    TRL averages ``self._metrics`` over the logging window in each process, and only the main process writes
    metrics.jsonl and the tracker; a metric computed on a process's own rows (discriminator loss and accuracy,
    timings) would be rank 0's alone. This runs before TRL's ``log`` (every process calls it at the same steps)
    and replaces each window and each number in ``logs`` by the mean over the ranks that have a finite value.
    Metrics TRL already gathered are equal on every rank, so their mean is unchanged.
    """

    def log(self, logs: dict[str, float], start_time: Optional[float] = None) -> None:
        if self.accelerator.num_processes > 1:
            from accelerate.utils import gather_object

            window = self._metrics["train" if self.model.training else "eval"]
            local = (
                {key: _mean(values) for key, values in window.items()},
                {key: _mean([value]) for key, value in logs.items()},
            )
            ranks = gather_object([local])
            for key in set().union(*(r[0] for r in ranks)):
                if (value := _mean([r[0].get(key) for r in ranks])) is not None:
                    window[key] = [value]
            for key in logs:
                if (mean := _mean([r[1].get(key) for r in ranks])) is not None:
                    logs[key] = mean
        super().log(logs, start_time)


class ReasoningSFTTrainer(HeldOutEvalMixin, OwnedStepLoop, RankMeanMetricsMixin, AtomicCheckpointMixin, SFTTrainer):
    """TRL's SFTTrainer (data handling, completion-only masks) with our own loss and step (the default
    ``update``: each micro-batch's loss and backward, then the optimizer step), atomic checkpoints, the divergence
    guard and the held-out learning curve."""

    loss_impl = "reasoning_irl.completion_cross_entropy"

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        model_inputs = {k: v for k, v in inputs.items() if k in ("input_ids", "attention_mask", "position_ids")}
        outputs = model(**model_inputs, use_cache=False)
        loss = completion_cross_entropy(outputs.logits, inputs["labels"])
        return (loss, outputs) if return_outputs else loss


class EpochSeededRepeatSampler(RepeatSampler):
    """TRL's RepeatSampler with the shuffle drawn from ``seed + epoch``.

    TRL's sampler draws each epoch's order from one generator seeded once, so epoch k's order depends on
    how many epochs this *process* has iterated; a run resumed in epoch k >= 1 would replay epoch 0's order.
    The Trainer calls ``set_epoch`` before every epoch (through the accelerate dataloader).
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self):
        if self.shuffle:
            self.generator.manual_seed((self.seed or 0) + self.epoch)
        return super().__iter__()


GENERATION_BUFFER = "generation_buffer-{rank}.pt"
"""Per-rank file in a checkpoint: TRL's buffered generation batch, when the next step would reuse it."""


class ReasoningGRPOTrainer(HeldOutEvalMixin, OwnedStepLoop, RankMeanMetricsMixin, AtomicCheckpointMixin, GRPOTrainer):
    """TRL's GRPOTrainer (sampling, rewards, reference model) with our own step and clipped policy loss.

    ``inputs["advantages"]`` may be (B,) or (B, T); the AIRL trainer supplies per-token advantages.

    Resume is exact: data order is a function of (seed, epoch) (:class:`EpochSeededRepeatSampler`), and
    when a checkpoint falls inside a generation cycle (``num_iterations`` > 1) the buffered completions and
    TRL's micro-step counter are saved with it, so the resumed run reuses the same completions.
    """

    loss_impl = "reasoning_irl.clipped_policy_loss"
    _step_inputs: Optional[list[dict[str, Any]]] = None  # the rows being generated (set before TRL's step runs)
    _step_outcome: Optional[torch.Tensor] = None  # their summed outcome rewards (set by _calculate_rewards)

    def _get_train_sampler(self, dataset=None):
        base = super()._get_train_sampler(dataset)
        return EpochSeededRepeatSampler(
            data_source=base.data_source,
            mini_repeat_count=base.mini_repeat_count,
            batch_size=base.batch_size,
            repeat_count=base.repeat_count,
            shuffle=base.shuffle,
            seed=base.seed,
        )

    # --- one GRPO update ---------------------------------------------------------------------------------------------
    def update(self, model, micro_batches):
        """One policy update. A generated batch (``steps_per_generation`` micro-batches of groups) feeds
        ``num_iterations`` passes: a fresh one is sampled and scored when the last is used up."""
        for i, generation_rows in enumerate(micro_batches):
            if self.generation_due():
                batch, _ = self.sample(generation_rows)  # TRL's group-normalised advantages are in the batch
                self.buffer(batch)
            self.backward(model, self.next_micro_batch(), last=i == len(micro_batches) - 1)
        return self.optimizer_step(model)

    # --- the step's pieces (what an update is written from) ---------------------------------------------------------
    def generation_due(self) -> bool:
        """Whether this micro-batch samples afresh (else it reuses the buffered generation)."""
        return self._buffered_inputs is None or self._step % self._generate_every() == 0

    def sample(self, rows: list[dict[str, Any]]) -> tuple[dict[str, Any], torch.Tensor]:
        """TRL samples the rows' groups (``expert_completion`` may place a trace in one) and scores them: the batch
        of tensors the loss reads, and the (B,) weighted sum of its outcome rewards over all processes."""
        start = time.perf_counter()
        self._step_inputs = rows
        batch = self._generate_and_score_completions(rows)
        self.record("time/generate", time.perf_counter() - start)
        return batch, self._step_outcome

    def buffer(self, batch: dict[str, Any]) -> None:
        """Shuffle a generated batch's rows and cut it into ``steps_per_generation`` micro-batches (TRL's order)."""
        self._buffered_inputs = split_tensor_dict(shuffle_sequence_dict(batch), self.args.steps_per_generation)

    @torch.no_grad()
    def with_completions(self, batch: dict[str, Any], completions: list[list[int]]) -> dict[str, Any]:
        """The batch with other completion ids (right-padded) in place of the sampled ones: the old and reference
        log-probs are recomputed where TRL had them; the sampler's log-probs and vLLM's correction are dropped (the
        new tokens were not sampled, so they get none)."""
        device = batch["completion_ids"].device
        ids, mask = padded(completions, padding_id(self.policy_tokenizer), device=device)
        dropped = (
            "old_per_token_logps",
            "ref_per_token_logps",
            "importance_sampling_ratio",
            "sampling_per_token_logps",
        )
        out = {k: v for k, v in batch.items() if k not in dropped}
        out.update(
            completion_ids=ids, completion_mask=mask, num_items_in_batch=self.accelerator.gather(mask.sum()[None]).sum()
        )
        whole = torch.cat([batch["prompt_ids"], ids], 1), torch.cat([batch["prompt_mask"], mask], 1)
        if "old_per_token_logps" in batch:
            out["old_per_token_logps"] = self._get_per_token_logps_and_entropies(self.model, *whole, ids.size(1))[0]
        if self.beta != 0.0:
            if self.ref_model is not None:
                out["ref_per_token_logps"] = self._get_per_token_logps_and_entropies(
                    self.ref_model, *whole, ids.size(1)
                )[0]
            else:  # a LoRA policy: the base without the adapter (or TRL's "ref" copy of a warm-started one)
                model = self.accelerator.unwrap_model(self.model)
                with use_adapter(model, adapter_name="ref" if "ref" in model.peft_config else None):
                    out["ref_per_token_logps"] = self._get_per_token_logps_and_entropies(
                        self.model, *whole, ids.size(1)
                    )[0]
        return out

    def next_micro_batch(self) -> dict[str, Any]:
        """The buffered micro-batch this micro-step trains on."""
        inputs = self._buffered_inputs[self._step % self.args.steps_per_generation]
        self._step += 1
        return inputs

    def record_step_time(self, seconds: float) -> None:
        self.record("step_time", seconds)

    # --- the project's hooks (a subclass overrides these, never TRL's own) ----------------------------------------
    def expert_completion(self, batch_row: int, row: int) -> Optional[list[int]]:
        """Completion ids to place in row ``row`` of this process's share of the step (``batch_row``: its index in
        the step's batch over all processes) in place of the policy's sample; None keeps the sample."""
        return None

    def record(self, key: str, value: float) -> None:
        """A metric logged (averaged over the logging window, and over processes) under ``key``."""
        self._metrics["train" if self.model.training else "eval"][key].append(value)

    def load_extra_state(self, checkpoint: Path) -> None:
        """Restore what :meth:`save_extra_state` wrote into ``checkpoint``."""

    def row_offset(self, local_rows: int) -> int:
        """Index of this process's first row in the step's batch over all processes. TRL hands each process a
        contiguous slice of that batch (and slices its own advantages the same way)."""
        return self.accelerator.process_index * local_rows

    @property
    def policy_tokenizer(self) -> Any:
        """The tokenizer TRL samples and scores with (the processing class's, for a processor)."""
        return self._tokenizer

    @property
    def step_inputs(self) -> list[dict[str, Any]]:
        """The rows of the batch being generated (this process's share)."""
        return self._step_inputs or []

    # --- TRL's step hooks --------------------------------------------------------------------------------------------
    def _generate(self, prompts: list):
        # TRL 1.15 returns (prompt_ids, completion_ids, tool_mask, completions, sampling_logps, ...): positions read here only.
        start = time.perf_counter()
        out = list(super()._generate(prompts))
        completion_ids, completions, sampling_logps = out[1], out[3], out[4]
        # The sampler alone (HF generate, or vLLM's weight sync and generate): time/generate adds the rewards and
        # the reference log-probs. The ids come back as lists, so the device has finished.
        self.record("time/sample", time.perf_counter() - start)
        self.record("sample/tokens", float(sum(len(ids) for ids in completion_ids)))
        offset = self.row_offset(len(completion_ids))
        for row in range(len(completion_ids)):
            ids = self.expert_completion(offset + row, row)
            if ids is None:
                continue
            completion_ids[row] = ids
            if completions is not None:
                # The text of the ids the policy trains on (a trace may be cut): what the outcome rewards score.
                text = self._tokenizer.decode(ids, skip_special_tokens=True)
                completions[row] = (
                    [{"role": "assistant", "content": text}] if isinstance(completions[row], list) else text
                )
            if sampling_logps is not None:
                sampling_logps[row] = [float("nan")] * len(ids)  # no sampling log-probs: no IS correction
        return tuple(out)

    def _calculate_rewards(self, inputs, prompts, completions, completion_ids_list):
        """TRL's outcome rewards (per function, gathered over processes); their weighted sum is the step's outcome
        (TRL's ``reward``; a function's None, NaN here, counts 0), returned by :meth:`sample`."""
        per_function = super()._calculate_rewards(inputs, prompts, completions, completion_ids_list)
        self._step_outcome = (per_function * self.reward_weights.to(per_function.device)).nansum(dim=1)
        return per_function

    def _generate_every(self) -> int:
        return self.args.steps_per_generation * self.num_iterations

    def save_extra_state(self, checkpoint_dir: str) -> None:
        if self._buffered_inputs is None or self._step % self._generate_every() == 0:
            return  # the next step generates afresh: nothing to carry over
        path = Path(checkpoint_dir) / GENERATION_BUFFER.format(rank=self.args.process_index)
        torch.save({"step": self._step, "buffer": self._buffered_inputs}, path)

    def _load_optimizer_and_scheduler(self, checkpoint):
        super()._load_optimizer_and_scheduler(checkpoint)
        if checkpoint is None:
            return
        # TRL counts micro-steps from 0 in every process; its generate/reuse schedule keys on that count.
        self._step = self.state.global_step * self.args.gradient_accumulation_steps
        path = Path(checkpoint) / GENERATION_BUFFER.format(rank=self.args.process_index)
        if path.is_file():
            saved = safe_load(path, map_location=self.accelerator.device)
            self._step, self._buffered_inputs = saved["step"], saved["buffer"]
        self.load_extra_state(Path(checkpoint))

    def _get_per_token_logps_and_entropies(
        self,
        model,
        input_ids,
        attention_mask,
        logits_to_keep,
        batch_size=None,
        compute_entropy=False,
        compute_aux_loss=False,
        **extra,
    ):
        # Old and reference log-probs (text only, no entropy) come from TRL's fused LM head. TRL 1.15 has only its
        # Triton kernel there (None without Triton, CUDA tensors only); 1.16 falls back to torch elsewhere.
        if (
            trl_scores_on(input_ids.device)
            or compute_entropy
            or compute_aux_loss
            or any(v is not None for v in extra.values())
        ):
            return super()._get_per_token_logps_and_entropies(
                model, input_ids, attention_mask, logits_to_keep, batch_size, compute_entropy, compute_aux_loss, **extra
            )
        step = batch_size or input_ids.size(0)
        with self.accelerator.autocast():
            parts = [
                completion_logps(
                    model, input_ids[i : i + step], attention_mask[i : i + step], logits_to_keep, self.temperature
                )
                for i in range(0, input_ids.size(0), step)
            ]
        return torch.cat(parts) * attention_mask[:, -logits_to_keep:], None, None

    def _vllm_correction(self) -> bool:
        return bool(self.use_vllm and getattr(self, "vllm_importance_sampling_correction", False))

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
            # Present only when TRL sampled with vLLM and corrects for it (as TRL's own loss does).
            importance_weights=inputs.get("importance_sampling_ratio") if self._vllm_correction() else None,
        )
        gather = self.accelerator.gather
        if out.kl is not None:
            self.record("kl", gather(out.kl.detach()).mean().item())
        self.record("clip_ratio", gather(out.clip_fraction.detach()).mean().item())
        self.record("policy_loss", gather(out.loss.detach()).mean().item())
        return out.loss  # the micro-batch's mean: backward divides by the accumulation steps
