"""Typed config sections shared by the SFT, GRPO and AIRL entry scripts, and the SFT and GRPO runs' own (AIRL's:
:mod:`reasoning_irl.training.airl.config`). Nothing here loads a model library: a refused config fails fast.

Every key has a type and a one-line doc; :func:`reasoning_irl.config.validate` rejects unknown keys.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

from reasoning_irl.config import ConfigError
from reasoning_irl.models.config import LoraSettings, ModelConfig, SamplingConfig, TinySpec  # noqa: F401  (re-exported)
from reasoning_irl.training.demonstrations import DemonstrationSettings


@dataclass
class TrainingConfig:
    max_steps: int = 500
    """Optimizer steps of the policy."""
    learning_rate: float = 1e-5
    """Peak learning rate of the policy."""
    lr_scheduler_type: str = "constant_with_warmup"
    """A transformers scheduler name. Decaying ones (linear, cosine) are computed from max_steps: resume with the same max_steps."""
    warmup_steps: int = 0
    """Linear warm-up steps."""
    warmup_ratio: float = 0.0
    """Linear warm-up over this fraction of max_steps, in [0, 1); not together with warmup_steps > 0."""
    weight_decay: float = 0.0
    """AdamW weight decay."""
    optim: str = "adamw_torch_fused"
    """The policy's optimizer: a transformers OptimizerNames value (e.g. paged_adamw_8bit, bitsandbytes on a GPU)."""
    adam_beta1: float = 0.9
    """Adam beta1 of the policy's optimizer."""
    adam_beta2: float = 0.999
    """Adam beta2 of the policy's optimizer."""
    max_grad_norm: float = 1.0
    """Gradient clipping norm."""
    per_device_batch_size: int = 8
    """Rows per device per micro-batch (GRPO, AIRL: completions, a multiple of num_generations; their runs default to 16)."""
    gradient_accumulation_steps: int = 1
    """Micro-batches per optimizer step."""
    logging_steps: int = 1
    """Log (and append to metrics.jsonl) every this many steps."""
    save_steps: int = 100
    """Write checkpoint-<step>/ every this many steps."""
    save_total_limit: Optional[int] = None
    """Keep at most this many checkpoints (null keeps all)."""
    resume_from: Optional[str] = None
    """null | auto (latest checkpoint of this run, if any) | a checkpoint folder."""
    eval_steps: int = 0
    """Every this many updates (and before the first), greedy accuracy on a fixed validation slice is logged
    to metrics.jsonl as held_out/* (the learning curve); 0 turns it off."""
    eval_problems: int = 64
    """Size of that slice: the first this many problems of the validation split."""
    eval_samples: int = 4
    """Samples per held-out problem at T=1 (held_out/pass@1 and the rates of the dataset's probes); 0 decodes greedily only."""
    eval_max_new_tokens: Optional[int] = None
    """Tokens decoded per held-out problem; null = sampling.max_completion_length (GRPO, AIRL) or method.max_length (SFT)."""

    def check(self) -> None:
        for key in ("max_steps", "per_device_batch_size", "gradient_accumulation_steps", "logging_steps", "save_steps"):
            if getattr(self, key) < 1:
                raise ConfigError(f"training.{key} must be >= 1, got {getattr(self, key)}")
        if not self.learning_rate >= 0:  # 0 is a control run whose policy never moves (bench/learning_claims.py)
            raise ConfigError(f"training.learning_rate must be >= 0, got {self.learning_rate}")
        check_scheduler(self.lr_scheduler_type, "training.lr_scheduler_type")
        # A resumed run starts a fresh logging window at its checkpoint; a checkpoint inside a window would
        # make the first logged averages after a resume differ from the uninterrupted run's.
        if self.eval_steps < 0 or self.eval_problems < 1 or self.eval_samples < 0:
            raise ConfigError(
                f"training.eval_steps and eval_samples must be >= 0 and training.eval_problems >= 1, "
                f"got {self.eval_steps}, {self.eval_samples} and {self.eval_problems}"
            )
        if self.warmup_steps > 0 and self.warmup_ratio > 0:
            raise ConfigError(
                f"training.warmup_steps ({self.warmup_steps}) and training.warmup_ratio "
                f"({self.warmup_ratio}) both set: give one of them"
            )
        if not 0.0 <= self.warmup_ratio < 1.0 or self.warmup_steps < 0:
            raise ConfigError(
                f"training.warmup_ratio must be in [0, 1) and warmup_steps >= 0, "
                f"got {self.warmup_ratio} and {self.warmup_steps}"
            )
        if not (0.0 <= self.adam_beta1 < 1.0 and 0.0 <= self.adam_beta2 < 1.0):
            raise ConfigError(
                f"training.adam_beta1 and adam_beta2 must be in [0, 1), got {self.adam_beta1} and {self.adam_beta2}"
            )
        if self.optim not in OPTIMIZERS:
            raise ConfigError(
                f"training.optim {self.optim!r} unknown; choose a transformers optimizer: {', '.join(OPTIMIZERS)}"
            )
        if self.save_steps % self.logging_steps:
            raise ConfigError(
                f"training.save_steps ({self.save_steps}) must be a multiple of "
                f"training.logging_steps ({self.logging_steps})"
            )


SCHEDULERS = (
    "linear",
    "cosine",
    "cosine_with_restarts",
    "polynomial",
    "constant",
    "constant_with_warmup",
    "inverse_sqrt",
    "reduce_lr_on_plateau",
    "cosine_with_min_lr",
    "cosine_warmup_with_min_lr",
    "warmup_stable_decay",
    "greedy",
)
"""The learning-rate schedulers of the pinned transformers (its SchedulerType; tests/reliability/test_config_values.py holds
them equal), listed here because importing transformers' trainer utilities takes seconds and a refused config
should fail at once."""
OPTIMIZERS = (
    "adamw_torch",
    "adamw_torch_fused",
    "adamw_torch_xla",
    "adamw_torch_npu_fused",
    "adafactor",
    "adamw_anyprecision",
    "adamw_torch_4bit",
    "adamw_torch_8bit",
    "ademamix",
    "sgd",
    "adagrad",
    "adamw_bnb_8bit",
    "adamw_8bit",
    "ademamix_8bit",
    "lion_8bit",
    "lion_32bit",
    "paged_adamw_32bit",
    "paged_adamw_8bit",
    "paged_ademamix_32bit",
    "paged_ademamix_8bit",
    "paged_lion_32bit",
    "paged_lion_8bit",
    "rmsprop",
    "rmsprop_bnb",
    "rmsprop_bnb_8bit",
    "rmsprop_bnb_32bit",
    "galore_adamw",
    "galore_adamw_8bit",
    "galore_adafactor",
    "galore_adamw_layerwise",
    "galore_adamw_8bit_layerwise",
    "galore_adafactor_layerwise",
    "lomo",
    "adalomo",
    "grokadamw",
    "schedule_free_radam",
    "schedule_free_adamw",
    "schedule_free_sgd",
    "apollo_adamw",
    "apollo_adamw_layerwise",
    "stable_adamw",
)
"""The optimizers of the pinned transformers (its OptimizerNames), listed for the same reason as SCHEDULERS."""


def check_scheduler(name: str, where: str) -> None:
    """A learning-rate scheduler transformers knows (:data:`SCHEDULERS`)."""
    if name not in SCHEDULERS:
        raise ConfigError(f"{where} {name!r} unknown; choose a transformers scheduler: {', '.join(SCHEDULERS)}")


@dataclass
class LoggingConfig:
    report_to: str = "none"
    """none | wandb | tensorboard. metrics.jsonl is always written."""
    project: str = "reasoning_irl"
    """wandb project."""
    entity: Optional[str] = None
    """wandb entity (team or user); null uses the account default."""
    run_name: Optional[str] = None
    """Name shown in the tracker; null uses the run's name."""

    def check(self) -> None:
        if self.report_to not in ("none", "wandb", "tensorboard"):
            raise ConfigError(f"logging.report_to must be none, wandb or tensorboard, got {self.report_to!r}")


@dataclass
class RunSettings:
    """Keys every training run has; each entry script's run config adds its method (and sampling) sections."""

    run_name: str = "${method.name}-${dataset.name}-s${seed}"
    """Run folder name under output_root (the presets name theirs ``<preset>-s${seed}``)."""
    output_root: str = "outputs"
    """Where run folders live."""
    artifacts_dir: str = "artifacts"
    """Where project-built tiny models live."""
    seed: int = 0
    """Seed of data order, initialisation, sampling and perturbations."""
    model: ModelConfig = field(default_factory=ModelConfig)
    """The policy."""
    dataset: Any = None
    """Validated separately against the named dataset's own schema."""
    training: TrainingConfig = field(default_factory=TrainingConfig)
    logging: LoggingConfig = field(default_factory=LoggingConfig)
    plan: bool = False
    """Print the models' parameter counts and an estimate of peak GPU memory, then exit: no weights are loaded,
    nothing is downloaded or written (reasoning_irl.training.plan)."""
    plan_gpu_gb: float = 80.0
    """GPU memory (GiB) the plan's estimate is judged against."""


def section(cfg: Any, key: str) -> Any:
    """``cfg[key]`` or None, for DictConfig and dict alike."""
    return cfg.get(key) if cfg is not None else None


# --- the SFT and GRPO runs ---
@dataclass
class SFTMethod(DemonstrationSettings):
    """SFT's keys; the demonstrations' own (num_demonstrations, expert_error_rate, demonstration_style) are
    shared with AIRL (reasoning_irl.training.demonstrations)."""

    name: str = "sft"
    """Method tag; sft_train.py refuses any other."""
    max_length: int = 1124
    """Prompt + completion tokens per example; longer examples are truncated."""

    def check(self) -> None:
        if self.max_length < 1:
            raise ConfigError(f"method.max_length (prompt + completion tokens) must be >= 1, got {self.max_length}")
        self.check_demonstrations()


@dataclass
class SFTRunConfig(RunSettings):
    method: SFTMethod = field(default_factory=SFTMethod)


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
        from reasoning_irl.training.policy_loss import POLICY_LOSSES  # torch: only once a GRPO config is checked

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
