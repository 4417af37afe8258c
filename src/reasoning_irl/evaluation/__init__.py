"""Evaluation of sampled solutions: exact metrics, reward-based rerank selectors, and
reward-model diagnostics against ground truth."""

from reasoning_irl.evaluation.diagnostics import (
    auroc,
    localization_chance,
    localization_hit,
    pairwise_accuracy,
    step_rewards,
    token_auroc_corrupted,
)
from reasoning_irl.evaluation.metrics import (
    METRICS,
    ProblemSamples,
    bootstrap_ci,
    maj_at_k,
    pass_at_k,
    random_at_k,
    success_at_k,
    summarize,
    weighted_vote,
)
from reasoning_irl.evaluation.selectors import SELECTORS, answer_token_span, score_all

__all__ = [
    "METRICS",
    "SELECTORS",
    "ProblemSamples",
    "answer_token_span",
    "auroc",
    "bootstrap_ci",
    "localization_chance",
    "localization_hit",
    "maj_at_k",
    "pairwise_accuracy",
    "pass_at_k",
    "random_at_k",
    "score_all",
    "step_rewards",
    "success_at_k",
    "summarize",
    "token_auroc_corrupted",
    "weighted_vote",
]
