"""GRPO on verifiable rewards (the GRPO baseline): TRL sampling + our own clipped loss, LoRA policy."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from reasoning_irl.config import ConfigError
from reasoning_irl.data import load_split, to_hf_dataset
from reasoning_irl.folder_lock import releases_claims
from reasoning_irl.models.loading import load_policy
from reasoning_irl.registry import UnknownNameError
from reasoning_irl.training.callbacks import run_callbacks
from reasoning_irl.training.config import RunSettings, SamplingConfig, TrainingConfig
from reasoning_irl.training.held_out import held_out_slice
from reasoning_irl.training.policy_loss import POLICY_LOSSES
from reasoning_irl.training.setup import check_group_batch, grpo_arguments, prompt_rows, start_run


@dataclass
class RewardTerm:
    name: str = "correctness"
    """A registered verifiable reward (reasoning_irl.rewards.REWARDS)."""
    weight: float = 1.0
    """Its weight in the summed reward."""


@dataclass
class GRPOMethod:
    name: str = "grpo"
    """Method tag; train.py refuses any other."""
    rewards: list[RewardTerm] = field(
        default_factory=lambda: [
            RewardTerm("correctness", 2.0),
            RewardTerm("strict_format", 0.5),
            RewardTerm("tag_count", 0.5),
        ]
    )
    """Verifiable rewards and weights (the sum is the sequence reward)."""
    beta: float = 0.04
    """KL coefficient to the reference (the base model without adapters); 0 disables the reference."""
    loss_type: str = "grpo"
    """Loss aggregation: a name in reasoning_irl.training.policy_loss.POLICY_LOSSES."""
    epsilon: float = 0.2
    """Lower clipping range of the probability ratio."""
    epsilon_high: Optional[float] = None
    """Upper clipping range (null = epsilon)."""
    num_iterations: int = 1
    """Policy updates per generated batch."""
    scale_rewards: str = "group"
    """group | batch | none: divide advantages by the group's (or batch's) reward std."""

    def check(self) -> None:
        if self.loss_type not in POLICY_LOSSES:
            raise ConfigError(
                f"method.loss_type {self.loss_type!r} unknown; choose one of: {', '.join(POLICY_LOSSES.names())}"
            )
        if self.scale_rewards not in ("group", "batch", "none"):
            raise ConfigError(f"method.scale_rewards must be group, batch or none, got {self.scale_rewards!r}")
        if not self.rewards:
            raise ConfigError("method.rewards must name at least one reward")


@dataclass
class GRPORunConfig(RunSettings):
    method: GRPOMethod = field(default_factory=GRPOMethod)
    training: TrainingConfig = field(default_factory=lambda: TrainingConfig(per_device_batch_size=16))
    sampling: SamplingConfig = field(default_factory=SamplingConfig)


@releases_claims  # the run folder is claimed by start_run, for the run's life
def run_grpo(cfg: Any) -> Path:
    """Train the GRPO baseline; returns the run folder."""
    from reasoning_irl.rewards import get_reward_functions
    from reasoning_irl.training.trl_adapter import GRPOConfig

    run = start_run(cfg, GRPORunConfig, "grpo")
    typed: GRPORunConfig = run.cfg
    check_group_batch(typed)
    try:
        reward_funcs = get_reward_functions([term.name for term in typed.method.rewards])
    except UnknownNameError as exc:  # the message lists the registered rewards
        raise ConfigError(f"method.rewards: {exc}") from None
    records = load_split(run.dataset, "train")  # a bad or empty data set fails before the model loads
    held_out = held_out_slice(run.dataset, typed.training, typed.sampling.max_completion_length)
    model, tokenizer = load_policy(typed.model)
    train = prompt_rows(records, tokenizer, typed.sampling.max_prompt_length)
    from reasoning_irl.training.trl_adapter import (
        ReasoningGRPOTrainer,  # TRL (and its tracker hooks) load only when training
    )

    trainer = ReasoningGRPOTrainer(
        model=model,
        reward_funcs=reward_funcs,
        args=grpo_arguments(run, GRPOConfig),
        train_dataset=train,
        eval_dataset=to_hf_dataset(held_out.records) if held_out else None,
        processing_class=tokenizer,
        callbacks=run_callbacks(run.run_dir),
    )
    trainer.held_out = held_out
    trainer.run_fingerprint = run.fingerprint
    trainer.train(resume_from_checkpoint=run.resume_checkpoint)
    trainer.save_final(run.run_dir)
    return run.run_dir
