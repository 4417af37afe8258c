"""A tiny GRPO run: rewards see real completions and are logged; over-long prompts are dropped and counted."""

from __future__ import annotations

import logging

import pytest
from tiny_runs import LEARNING_REWARDS, REWARD_CALLS, TEST_REWARD, step_rows
from transformers import AutoTokenizer

from reasoning_irl.config import ConfigError
from reasoning_irl.data import load_split
from reasoning_irl.rewards import completion_text
from reasoning_irl.training.grpo import run_grpo
from reasoning_irl.training.setup import prompt_rows

MAX_PROMPT = 84  # the tiny run's 38 training prompts are 73-95 tokens long


@pytest.fixture(scope="module")
def tokenizer(artifacts):
    return AutoTokenizer.from_pretrained(artifacts / "tiny-qwen2-policy")


def _prompt_len(tokenizer, prompt) -> int:
    return len(tokenizer.apply_chat_template(prompt, add_generation_prompt=True, tokenize=True)["input_ids"])


def test_rewards_see_real_completions_and_are_logged(compose_run, tokenizer, caplog):
    REWARD_CALLS.clear()
    cfg = compose_run("grpo", "training.max_steps=2", LEARNING_REWARDS, f"sampling.max_prompt_length={MAX_PROMPT}")
    records = load_split(cfg.dataset, "train")
    too_long = sum(_prompt_len(tokenizer, r["prompt"]) > MAX_PROMPT for r in records)
    assert 0 < too_long < len(records)
    with caplog.at_level(logging.WARNING, logger="reasoning_irl.training.grpo"):
        run_dir = run_grpo(cfg)
    assert f"dropped {too_long} of {len(records)} prompts longer than {MAX_PROMPT} tokens" in caplog.text

    assert len(REWARD_CALLS) == 2  # one call per generation batch (one per step here)
    answers = {r["id"]: r["answer"] for r in records}
    for call in REWARD_CALLS:
        completions, ids = call["completions"], call["completion_ids"]
        assert len(completions) == len(ids) == 8  # per_device_batch_size completions: 2 prompts x 4 samples
        # Chat prompts give chat completions: one assistant message with the decoded sampled tokens.
        for completion, token_ids in zip(completions, ids):
            assert completion[0]["role"] == "assistant"
            assert 0 < len(token_ids) <= 12  # sampling.max_completion_length
            assert completion_text(completion) == tokenizer.decode(token_ids, skip_special_tokens=True)
        # Dataset columns reach the reward aligned with the completions, and no kept prompt is too long.
        assert call["kwargs"]["answer"] == [answers[i] for i in call["kwargs"]["id"]]
        assert all(_prompt_len(tokenizer, p) <= MAX_PROMPT for p in call["prompts"])
        assert len(set(map(str, call["prompts"]))) == 2

    rows = step_rows(run_dir)
    assert [r["step"] for r in rows] == [1, 2]
    for row, call in zip(rows, REWARD_CALLS):
        assert row[f"rewards/{TEST_REWARD}/mean"] == pytest.approx(sum(call["values"]) / 8, abs=1e-6)
        assert row["rewards/correctness/mean"] == pytest.approx(0.0)  # a random model solves nothing
        for key in ("reward", "reward_std", "kl", "policy_loss", "clip_ratio", "completions/mean_length"):
            assert key in row


def test_prompt_filter_counts_and_refuses_all_dropped(tokenizer, compose_run, caplog):
    records = load_split(compose_run("grpo").dataset, "train")
    lengths = [_prompt_len(tokenizer, r["prompt"]) for r in records]
    with caplog.at_level(logging.WARNING, logger="reasoning_irl.training.grpo"):
        kept = prompt_rows(records, tokenizer, max_prompt_length=80)
    assert len(kept) == sum(n <= 80 for n in lengths)
    assert f"dropped {sum(n > 80 for n in lengths)} of {len(records)}" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="reasoning_irl.training.grpo"):
        assert len(prompt_rows(records, tokenizer, max_prompt_length=max(lengths))) == len(records)
    assert "dropped" not in caplog.text  # nothing dropped, nothing reported
    with pytest.raises(ConfigError, match="every prompt is longer than sampling.max_prompt_length=10"):
        prompt_rows(records, tokenizer, max_prompt_length=10)


def test_group_batch_mismatch_is_a_config_error(compose_run):
    with pytest.raises(ConfigError, match="not a multiple of sampling.num_generations=4"):
        run_grpo(compose_run("grpo", "training.per_device_batch_size=6"))
