"""Typed config sections shared by the SFT, GRPO and AIRL entry scripts.

Every key has a type and a one-line doc; :func:`reasoning_irl.config.validate` rejects unknown keys.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

from reasoning_irl.config import ConfigError
from reasoning_irl.models.config import LoraSettings, ModelConfig, SamplingConfig, TinySpec  # noqa: F401  (re-exported)


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
        from transformers.training_args import OptimizerNames

        names = [o.value for o in OptimizerNames]
        if self.optim not in names:
            raise ConfigError(
                f"training.optim {self.optim!r} unknown; choose a transformers optimizer: {', '.join(names)}"
            )
        if self.save_steps % self.logging_steps:
            raise ConfigError(
                f"training.save_steps ({self.save_steps}) must be a multiple of "
                f"training.logging_steps ({self.logging_steps})"
            )


def check_scheduler(name: str, where: str) -> None:
    """A learning-rate scheduler transformers knows (the names of its SchedulerType)."""
    from transformers.trainer_utils import SchedulerType

    names = [s.value for s in SchedulerType]
    if name not in names:
        raise ConfigError(f"{where} {name!r} unknown; choose a transformers scheduler: {', '.join(names)}")


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
