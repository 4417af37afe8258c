"""GRPO on verifiable rewards (the GRPO baseline): TRL sampling + our own clipped loss, LoRA policy."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from reasoning_irl.config import ConfigError
from reasoning_irl.data import load_split, to_hf_dataset
from reasoning_irl.folder_lock import releases_claims
from reasoning_irl.models.loading import load_frozen_lm, load_policy
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


REWARD_SOURCES = {
    "verifiable": "the weighted sum of method.rewards (a grader: needs the gold answer)",
    "verifree": "VeriFree: the policy's own probability of the reference answer after its reasoning (no grader)",
    "perplexity": "a frozen LM's mean log-probability of the reference answer after the sampled reasoning",
}
"""What pays the policy (method.reward_source); the docs and the refusal list these."""


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
    """Verifiable rewards and weights (the sum is the sequence reward; logged only unless reward_source=verifiable)."""
    reward_source: str = "verifiable"
    """verifiable | verifree: what pays the policy (REWARD_SOURCES). verifree = VeriFree (Zhou et al. 2025): each
    sample's reasoning is followed by the reference answer, the reward is the policy's probability of it, reasoning
    tokens take its leave-one-out advantage and the answer tokens are trained weighted by it (no grader).
    perplexity = the reference answer's mean token log-probability under a frozen LM (reference_lm) after each
    sample's reasoning, as GRPO's sequence reward."""
    reference_lm: Optional[str] = None
    """reward_source=perplexity: the frozen LM that reads the reference answer (a folder or hub id sharing the
    policy's tokenizer; in the miniature, the clean base policy)."""
    hybrid: bool = False
    """reward_source=perplexity: add the weighted verifiable rewards (method.rewards) to the frozen LM's score."""
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
        if self.reward_source not in REWARD_SOURCES:
            raise ConfigError(
                f"method.reward_source {self.reward_source!r} unknown; choose one of: {', '.join(REWARD_SOURCES)}"
            )
        perplexity = self.reward_source == "perplexity"
        if perplexity and not self.reference_lm:
            raise ConfigError("method.reward_source=perplexity needs method.reference_lm (the frozen LM that scores)")
        if not perplexity and (self.reference_lm or self.hybrid):
            raise ConfigError("method.reference_lm and method.hybrid apply only with method.reward_source=perplexity")


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
    # TRL (and its tracker hooks) load only when training.
    extra: dict[str, Any] = {}
    if typed.method.reward_source == "verifree":
        from reasoning_irl.training.verifree import ReasoningVeriFreeTrainer as trainer_class
    elif typed.method.reward_source == "perplexity":
        from reasoning_irl.training.perplexity_reward import ReasoningPerplexityTrainer as trainer_class

        frozen = load_frozen_lm(typed.method.reference_lm, typed.model, tokenizer)
        extra = {"frozen_lm": frozen, "method": typed.method}
    else:
        from reasoning_irl.training.trl_adapter import ReasoningGRPOTrainer as trainer_class

    trainer = trainer_class(
        model=model,
        reward_funcs=reward_funcs,
        args=grpo_arguments(run, GRPOConfig),
        train_dataset=train,
        eval_dataset=to_hf_dataset(held_out.records) if held_out else None,
        processing_class=tokenizer,
        callbacks=run_callbacks(run.run_dir),
        **extra,
    )
    trainer.held_out = held_out
    trainer.run_fingerprint = run.fingerprint
    trainer.train(resume_from_checkpoint=run.resume_checkpoint)
    trainer.save_final(run.run_dir)
    return run.run_dir
