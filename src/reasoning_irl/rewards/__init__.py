"""Verifiable rewards (answer extraction, correctness, format) and hard-negative perturbations."""

from reasoning_irl.rewards.correctness import is_correct
from reasoning_irl.rewards.extraction import completion_text, extract_answer
from reasoning_irl.rewards.perturbations import PERTURBATIONS, Perturbed, perturb
from reasoning_irl.rewards.registry import REWARDS, get_reward_functions, score_completions

__all__ = [
    "REWARDS",
    "get_reward_functions",
    "score_completions",
    "is_correct",
    "extract_answer",
    "completion_text",
    "PERTURBATIONS",
    "Perturbed",
    "perturb",
]
