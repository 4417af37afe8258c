"""Scoring text with a saved token reward model: the settings every scorer shares (:class:`RewardScoring`,
inherited by ``evaluate.py``'s, ``evaluate_irl.py``'s and ``python -m reasoning_irl.score``'s configs, so each
default is stated here once), loading the model for inference, and token rewards to sequence scores."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Optional

from reasoning_irl.config import ConfigError
from reasoning_irl.evaluation.selectors import SELECTORS, score_all


def all_selectors() -> list[str]:
    return SELECTORS.registered()


def check_selectors(names: list[str], where: str) -> None:
    for name in names:
        if name not in SELECTORS.names():
            raise ConfigError(f"{where}: unknown selector {name!r}; choose from: {', '.join(SELECTORS.names())}")


@dataclass
class RewardScoring:
    selectors: list[str] = field(default_factory=all_selectors)
    """Rerank selectors (sequence scores of the token rewards) computed and reported; default: all registered."""
    gamma: float = 0.9
    """Discount of the discounted selectors. A saved reward model does not record one; 0.9 is the discount of the
    reward-to-go the AIRL trainer's policy learns from by default (method.gamma)."""
    reward_temperature: float = 1.0
    """Token reward = reward-model logit / reward_temperature (as in AIRL training)."""
    reward_batch_size: int = 32
    """Rows per reward-model forward."""

    def check(self) -> None:
        if not 0 <= self.gamma <= 1:
            raise ConfigError(f"gamma must be in [0, 1], got {self.gamma}")
        if self.reward_temperature <= 0 or self.reward_batch_size < 1:
            raise ConfigError("reward_temperature must be > 0 and reward_batch_size >= 1")
        check_selectors(self.selectors, "selectors")

    def sequence_scores(self, token_rewards: Sequence[float], answer_span: Optional[tuple[int, int]]) -> dict:
        """``{selector: score}`` of one completion's token rewards."""
        return score_all(token_rewards, answer_span, self.gamma, names=self.selectors)

    def token_rewards(
        self,
        model: Any,
        tokenizer: Any,
        policy_tokenizer: Any,
        prompts: Sequence[list[dict]],
        completion_ids: Sequence[Sequence[int]],
        progress: bool = False,
    ) -> list[list[float]]:
        """The reward of every completion token, scored as the AIRL trainer scores (see models.scoring)."""
        from reasoning_irl.models.scoring import score_policy_tokens

        return score_policy_tokens(
            model,
            tokenizer,
            policy_tokenizer,
            prompts,
            completion_ids,
            temperature=self.reward_temperature,
            batch_size=self.reward_batch_size,
            progress=progress,
        )


def load_scorer(path: str, dtype: str, device: Any = None) -> tuple[Any, Any]:
    """``(reward model, tokenizer)`` of a saved reward model folder, LoRA merged, in eval mode on ``device``
    (default: the GPU when there is one)."""
    import torch

    from reasoning_irl.models.loading import resolve_dtype
    from reasoning_irl.models.reward_model import load_reward_model
    from reasoning_irl.models.scoring import merged_for_inference

    model, tokenizer = load_reward_model(path, dtype=resolve_dtype(dtype))
    merged_for_inference(model).to(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    return model, tokenizer
