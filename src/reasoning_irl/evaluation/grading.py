"""Grading a policy's completions against their problems, and scoring them with a token reward model: the rows
of ``eval_results.jsonl`` gain their verdicts here (shared by policy evaluation and the search evaluation)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Optional

from reasoning_irl.data.probes import Probe, probe_flags
from reasoning_irl.evaluation.reward_scoring import RewardScoring
from reasoning_irl.evaluation.selectors import answer_token_span
from reasoning_irl.rewards import REWARDS, extract_answer, is_correct, score_completions


def question_text(record: dict) -> Optional[str]:
    """The problem as the policy read it: the last user message of the prompt (for reports and browsers)."""
    users = [m.get("content") for m in record.get("prompt") or [] if isinstance(m, dict) and m.get("role") == "user"]
    return str(users[-1]) if users else None


def grade_rows(rows: list[dict], records: dict[str, dict], probes: Mapping[str, Probe]) -> None:
    """Fill extracted_answer, correct, every verifiable reward and the flags of the dataset's ``probes``
    (``data.dataset_probes``; rows on which none is defined get no ``flags``), in place."""

    texts = [r["completion"] for r in rows]
    golds = [records[r["problem_id"]]["answer"] for r in rows]
    options = [records[r["problem_id"]].get("options") for r in rows]
    names = REWARDS.names()
    rewards = score_completions(texts, golds, options, names)
    for i, row in enumerate(rows):
        pred = extract_answer(row["completion"])
        row["gold"] = golds[i]
        row["question"] = question_text(records[row["problem_id"]])
        row["extracted_answer"] = pred
        row["correct"] = bool(pred is not None and is_correct(pred, golds[i], options[i]))
        row["rewards"] = {name: rewards[name][i] for name in names}
        flags = probe_flags(probes, records[row["problem_id"]], row["completion"], pred)
        if flags:
            row["flags"] = flags


def score_rows_with_reward_model(
    rows: list[dict],
    records: dict[str, dict],
    policy_tokenizer: Any,
    reward_model: Any,
    reward_tokenizer: Any,
    scoring: RewardScoring,
    progress: bool = False,
) -> None:
    """Fill token_rewards, answer_span and scores {selector: value} of each row, in place."""

    prompts = [records[r["problem_id"]]["prompt"] for r in rows]
    rewards = scoring.token_rewards(
        reward_model, reward_tokenizer, policy_tokenizer, prompts, [r["completion_ids"] for r in rows], progress
    )
    for row, r in zip(rows, rewards):
        span = answer_token_span(row["tokens"])
        row["token_rewards"] = r
        row["answer_span"] = list(span) if span is not None else None
        row["scores"] = scoring.sequence_scores(r, span)
