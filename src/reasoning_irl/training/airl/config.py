"""Typed configuration of the AIRL method (``method=airl``) and of an AIRL run."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from reasoning_irl.config import ConfigError
from reasoning_irl.models.config import LoraSettings, ModelConfig, TinySpec
from reasoning_irl.rewards import PERTURBATIONS
from reasoning_irl.training.advantages import ADVANTAGES
from reasoning_irl.training.airl.losses import DISC_LOSSES
from reasoning_irl.training.config import RunSettings, SamplingConfig, TrainingConfig, check_scheduler
from reasoning_irl.training.demonstrations import DemonstrationSettings
from reasoning_irl.training.policy_loss import POLICY_LOSSES

EXPERT_IN_GROUP = ("none", "one", "balanced")
POLICY_REWARDS = ("f", "f_minus_logpi")
REWARD_LABELS = ("demonstrations", "outcomes")


@dataclass
class AIRLMethod(DemonstrationSettings):
    """AIRL's keys; the demonstrations' own (num_demonstrations, expert_error_rate, demonstration_style) are
    shared with SFT (reasoning_irl.training.demonstrations)."""

    name: str = "airl"
    """Method tag; irl_train.py refuses any other."""
    # --- reward model (discriminator) ---
    reward_mode: str = "dense"
    """dense: every completion token is scored and rewarded | sparse: the final token's score only."""
    disc_updates_per_step: int = 1
    """Discriminator optimizer steps per policy step (0 = frozen, needs frozen_reward_model)."""
    disc_learning_rate: float = 1e-5
    """Discriminator peak learning rate."""
    disc_lr_scheduler_type: str = "constant"
    """A transformers scheduler name for the discriminator."""
    disc_warmup_steps: int = 0
    """Discriminator warm-up steps."""
    disc_weight_decay: float = 0.0
    """Discriminator AdamW weight decay."""
    disc_max_grad_norm: float = 1.0
    """Discriminator gradient clipping norm."""
    disc_micro_batch_size: int = 32
    """Rows per discriminator forward pass; the step's gradient is exact whatever this is."""
    disc_loss: str = "bce"
    """A name in reasoning_irl.training.airl.losses.DISC_LOSSES (docs/configuration.md, "Registered names")."""
    label_smoothing: float = 0.1
    """bce: targets become 1-ε (expert) and ε (negatives)."""
    disc_temperature: float = 1.0
    """bce: sequence scores are divided by this before the sigmoid."""
    wgan_lipschitz: str = "gradient_penalty"
    """wgan: gradient_penalty (on interpolated input embeddings) | weight_clip."""
    gradient_penalty_weight: float = 10.0
    """wgan + gradient_penalty: weight of E[(||∇||-1)^2]."""
    weight_clip: float = 0.01
    """wgan + weight_clip: trainable discriminator weights are clamped to [-c, c] after each step."""
    pairwise_margin_weight: float = 0.0
    """Weight of the hinge 'expert above its own perturbed twin by margin' (0 = off)."""
    pairwise_margin: float = 1.0
    """Margin of that hinge, in score units."""
    perturbations: list[str] = field(default_factory=PERTURBATIONS.registered)
    """Hard-negative generators (reasoning_irl.rewards.PERTURBATIONS) drawn from; default: all registered."""
    perturbations_per_expert: int = 2
    """Perturbed copies of each expert trace per step (0 = no perturbed negatives)."""
    disc_extra_experts: int = 0
    """Expert demonstrations drawn (seeded) from the training set and added to each step's discriminator
    batch as positives, with their own perturbed copies: more positives per update at no sampling cost."""
    structured_discriminator: bool = False
    """AIRL's structured discriminator D = exp(f) / (exp(f) + π): a token's discriminator logit is f - log π(token),
    with f the reward model's score and π the current policy (detached), and f alone is the learned reward (for
    the policy and for reranking). A plain classifier's logit tends to log p_E - log π, which also rewards what
    the policy finds unlikely. Needs a shared policy/reward tokenizer and reward_mode dense."""
    reward_lm_prior: bool = False
    """The reward model keeps its backbone's LM head: a token's f = log p(token | prefix) under the backbone
    plus the scalar head (started at 0), so f starts as the log-density of a backbone SFT'd on expert traces
    (AIRL's optimal f is the expert's log-density up to shaping) and both terms train. Not with the WGAN
    gradient penalty (it differentiates input embeddings; the log-density needs token ids)."""
    implicit_prm_beta: Optional[float] = None
    """PRIME's implicit process reward (Cui et al. 2025): a token's f = β (log p(token) - log p_ref(token)), p the
    trained reward LM and p_ref a frozen copy of its backbone as loaded, no scalar head; a row's score is the sum
    (β log p(y)/p_ref(y)). Needs reward_lm_prior; null = the backbone + head reward above."""
    reward_labels: str = "demonstrations"
    """What the reward model learns from. demonstrations: expert traces (label 1) against policy samples and
    perturbed experts (label 0) | outcomes: the step's policy samples only, each labelled 1 when its outcome
    reward (method.outcome_rewards) is positive: PRIME's grader-trained reward, no expert trace."""
    frozen_reward_model: Optional[str] = None
    """Load a saved reward model folder and never update it (with disc_updates_per_step=0)."""
    # --- token reward and advantages ---
    policy_reward: str = "f"
    """The policy's token reward. f: the reward model's score (what reranking uses) | f_minus_logpi: AIRL's
    log D - log(1-D) = f - log π(token), with π the policy at sampling time. The second is entropy-regularised
    RL on f: its optimum is π ∝ exp(f), and with reward_lm_prior each token's reward says how much more
    likely the reward model finds that token than the policy does. Needs structured_discriminator."""
    reward_temperature: float = 1.0
    """Token reward = discriminator logit (log D - log(1-D)) / reward_temperature."""
    reward_clip: Optional[float] = None
    """Clip token rewards to [-c, c] (null = no clipping)."""
    advantage: str = "grpo"
    """A name in reasoning_irl.training.advantages.ADVANTAGES: grpo | grpo_token_rms | prime | rloo | sparse."""
    gamma: float = 0.9
    """Discount of the reward-to-go A_t = r_t + γ·A_{t+1} (grpo, grpo_token_rms, prime)."""
    normalize_rewards: bool = True
    """Group-normalise token rewards before the reward-to-go (grpo, sparse)."""
    outcome_reward_weight: float = 0.0
    """Weight of the group-normalised verifiable outcome reward added to every token's advantage."""
    outcome_rewards: list[str] = field(default_factory=lambda: ["correctness"])
    """Verifiable rewards summed into the outcome reward (also logged when the weight is 0)."""
    expert_in_group: str = "one"
    """none | one (the last sample of each group is the expert trace) | balanced (as one, its advantage scaled by 1/G)."""
    # --- policy update (GRPO loss) ---
    beta: float = 0.04
    """KL coefficient to the adapter-free base model."""
    loss_type: str = "grpo"
    """Policy loss aggregation (reasoning_irl.training.policy_loss.POLICY_LOSSES)."""
    epsilon: float = 0.2
    """Lower ratio clip."""
    epsilon_high: Optional[float] = None
    """Upper ratio clip (null = epsilon)."""
    num_iterations: int = 1
    """Policy updates per generated batch."""

    def check(self) -> None:
        def bad(msg: str) -> None:
            raise ConfigError(f"method.{msg}")

        if self.reward_mode not in ("dense", "sparse"):
            bad(f"reward_mode must be dense or sparse, got {self.reward_mode!r}")
        choices = {
            "disc_loss": DISC_LOSSES.names(),
            "advantage": ADVANTAGES.names(),
            "loss_type": POLICY_LOSSES.names(),
        }
        for key, names in choices.items():
            if getattr(self, key) not in names:
                bad(f"{key} {getattr(self, key)!r} unknown; choose one of: {', '.join(names)}")
        unknown = [name for name in self.perturbations if name not in PERTURBATIONS]
        if unknown:  # drawn only once training runs: refused here, before any model loads
            bad(f"perturbations: unknown {unknown[0]!r}; choose from: {', '.join(PERTURBATIONS.names())}")
        if not self.disc_learning_rate >= 0:  # 0: a control whose reward never learns (bench/learning_claims.py)
            bad(f"disc_learning_rate must be >= 0, got {self.disc_learning_rate}")
        check_scheduler(self.disc_lr_scheduler_type, "method.disc_lr_scheduler_type")
        if self.reward_mode == "sparse" and self.advantage != "sparse":
            bad("advantage must be sparse when reward_mode is sparse (a sequence score has no per-token reward-to-go)")
        if self.structured_discriminator and self.reward_mode != "dense":
            bad("structured_discriminator needs reward_mode dense (the policy term is subtracted token by token)")
        if self.policy_reward not in POLICY_REWARDS:
            bad(f"policy_reward must be one of {', '.join(POLICY_REWARDS)}, got {self.policy_reward!r}")
        if self.policy_reward == "f_minus_logpi" and not self.structured_discriminator:
            bad("policy_reward f_minus_logpi needs structured_discriminator (without it f is already log D - log(1-D))")
        if self.reward_lm_prior and self.disc_loss == "wgan" and self.wgan_lipschitz == "gradient_penalty":
            bad("reward_lm_prior does not work with the WGAN gradient penalty (use wgan_lipschitz=weight_clip or bce)")
        if self.implicit_prm_beta is not None and not (self.reward_lm_prior and self.implicit_prm_beta > 0):
            bad("implicit_prm_beta needs reward_lm_prior=true (the reward is a log-ratio of LM heads) and a value > 0")
        if self.implicit_prm_beta is not None and self.reward_mode != "dense":
            bad("implicit_prm_beta needs reward_mode dense (its sequence score is the sum of the token rewards)")
        if self.reward_labels not in REWARD_LABELS:
            bad(f"reward_labels must be one of {', '.join(REWARD_LABELS)}, got {self.reward_labels!r}")
        if self.reward_labels == "outcomes":
            self._check_outcome_labels(bad)
        if self.wgan_lipschitz not in ("gradient_penalty", "weight_clip"):
            bad(f"wgan_lipschitz must be gradient_penalty or weight_clip, got {self.wgan_lipschitz!r}")
        if self.expert_in_group not in EXPERT_IN_GROUP:
            bad(f"expert_in_group must be one of {', '.join(EXPERT_IN_GROUP)}, got {self.expert_in_group!r}")
        if self.disc_micro_batch_size < 1:
            bad("disc_micro_batch_size must be >= 1")
        if self.disc_updates_per_step < 0 or self.perturbations_per_expert < 0 or self.disc_extra_experts < 0:
            bad("disc_updates_per_step, perturbations_per_expert and disc_extra_experts must be >= 0")
        if self.disc_updates_per_step == 0 and not self.frozen_reward_model:
            bad("disc_updates_per_step=0 freezes the discriminator: set frozen_reward_model to a trained one")
        if self.frozen_reward_model and not Path(self.frozen_reward_model).is_dir():
            bad(f"frozen_reward_model: {self.frozen_reward_model} does not exist")
        if self.frozen_reward_model and self.disc_updates_per_step != 0:
            bad("frozen_reward_model needs disc_updates_per_step=0 (a frozen discriminator is never updated)")
        self.check_demonstrations()
        if not 0.0 <= self.label_smoothing < 0.5:
            bad(f"label_smoothing must be in [0, 0.5), got {self.label_smoothing}")
        if (
            self.num_demonstrations is not None
            and self.reward_labels == "demonstrations"
            and not self.disc_extra_experts
        ):
            bad(
                "num_demonstrations needs disc_extra_experts >= 1: a step whose problems have no demonstration "
                "takes its positives from the others"
            )
        if self.num_demonstrations is not None and DISC_LOSSES.get(self.disc_loss).paired:
            bad(
                f"disc_loss {self.disc_loss} pairs every policy sample with its own problem's expert trace: "
                "not with num_demonstrations (a problem without a demonstration has none)"
            )
        if not 0.0 <= self.gamma <= 1.0:
            bad(f"gamma must be in [0, 1], got {self.gamma}")
        if self.reward_temperature <= 0 or self.disc_temperature <= 0:
            bad("reward_temperature and disc_temperature must be > 0")

    def _check_outcome_labels(self, bad) -> None:
        """reward_labels=outcomes trains on the policy's samples alone: every option that adds or pairs expert
        traces is refused rather than ignored."""
        expert_options = {
            "expert_in_group": self.expert_in_group != "none",
            "perturbations_per_expert": self.perturbations_per_expert > 0,
            "disc_extra_experts": self.disc_extra_experts > 0,
            "pairwise_margin_weight": self.pairwise_margin_weight > 0,
            "expert_error_rate": self.expert_error_rate > 0,
            "num_demonstrations": self.num_demonstrations is not None,
            "demonstration_style": self.demonstration_style is not None,
            "disc_loss": DISC_LOSSES.get(self.disc_loss).paired,
        }
        used = [name for name, on in expert_options.items() if on]
        if used:
            bad(
                f"reward_labels=outcomes trains on policy samples only: {', '.join(used)} need expert traces "
                "(set expert_in_group=none, the counts and weights to 0 and an unpaired disc_loss)"
            )


def default_reward_model() -> ModelConfig:
    return ModelConfig(
        name_or_path="Qwen/Qwen2.5-0.5B-Instruct",
        backend="hf",  # the reward model is a plain transformers model with a scalar head
        lora=LoraSettings(r=32, alpha=32),
    )


@dataclass
class AIRLRunConfig(RunSettings):
    training: TrainingConfig = field(default_factory=lambda: TrainingConfig(per_device_batch_size=16))
    reward_model: ModelConfig = field(default_factory=default_reward_model)
    """The discriminator's backbone (a LoRA reward model is built on it)."""
    method: AIRLMethod = field(default_factory=AIRLMethod)
    sampling: SamplingConfig = field(default_factory=SamplingConfig)

    def check(self) -> None:
        # The expert demonstrations are the reward's definition of good reasoning: a habit written into them
        # would be learned as expert behaviour (method.expert_error_rate is the ablation for noisy experts).
        if (self.dataset or {}).get("habit_rate", 0) > 0:
            raise ConfigError(
                "AIRL's expert demonstrations must be clean: set dataset.habit_rate=0 "
                "(train the habit into the policy with SFT first, e.g. experiment=demo_habit)"
            )


__all__ = ["AIRLMethod", "AIRLRunConfig", "TinySpec"]
