"""Shared pieces of the tiny training runs (imported by the tests; fixtures live in conftest.py)."""

from __future__ import annotations

import json
from pathlib import Path

# Runs are kept tiny so the whole folder stays well under 3 minutes on 2 CPU cores:
# a few dozen synthetic problems, short sequences, batch 4-8, 2-6 steps.
SFT_SMALL = [
    "dataset.num_train=40",
    "dataset.num_test=8",
    "dataset.no_system=true",
    "method.max_length=160",
    "training.per_device_batch_size=4",
    "training.learning_rate=3e-3",
    "training.logging_steps=1",
    "training.save_steps=100",
    "model.lora.r=4",
    "model.lora.alpha=8",
]
GRPO_SMALL = [
    "dataset.num_train=40",
    "dataset.num_test=8",
    "dataset.no_system=true",
    "sampling.num_generations=4",
    "sampling.max_completion_length=12",
    "sampling.max_prompt_length=200",
    "training.per_device_batch_size=8",
    "training.learning_rate=3e-3",
    "training.logging_steps=1",
    "training.save_steps=100",
    "model.lora.r=4",
    "model.lora.alpha=8",
]


def read_metrics(run_dir: Path) -> list[dict]:
    """The rows of ``metrics.jsonl``."""
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines() if line]


def step_rows(run_dir: Path) -> list[dict]:
    """Per-step logging rows (the end-of-training summary row left out)."""
    return [row for row in read_metrics(run_dir) if "train_runtime" not in row]


TEST_REWARD = "test_digit_share"
REWARD_CALLS: list[dict] = []
"""Every call of the test reward: its keyword arguments and what it returned (tests clear it first)."""


def _digit_share(prompts=None, completions=None, completion_ids=None, **kwargs) -> list[float]:
    """Share of digit characters: varies between the random tiny model's samples, so advantages are not all 0."""
    from reasoning_irl.rewards import completion_text

    texts = [completion_text(c) for c in completions]
    values = [sum(ch.isdigit() for ch in t) / max(len(t), 1) for t in texts]
    REWARD_CALLS.append(
        dict(prompts=prompts, completions=completions, completion_ids=completion_ids, kwargs=kwargs, values=values)
    )
    return values


def digit_share_reward():
    """The test reward, named as TRL logs it (not registered: tests lend it to the registry one at a time)."""
    _digit_share.__name__ = TEST_REWARD
    return _digit_share


# The correctness reward (logged, always ~0 for a random model) plus the varying test reward (gives gradients).
LEARNING_REWARDS = f"method.rewards=[{{name:correctness,weight:1.0}},{{name:{TEST_REWARD},weight:1.0}}]"


def assert_grpo_gradients(rows: list[dict]) -> None:
    """The GRPO steps of these rows really trained, so a test of their guard or resume is not vacuous: every step's
    gradient is non-zero (step 1's comes from the advantages alone: the policy is still the reference, so its KL
    term has none), and every generated batch holds a group whose rewards differ (TRL's ``frac_reward_zero_std``,
    the share of completions in tied groups, is below 1). The presets' own rewards give a random tiny policy
    0 in every group: all advantages, gradients and updates are 0 there."""
    assert rows and all(row["grad_norm"] > 0 for row in rows), [row.get("grad_norm") for row in rows]
    sampled = [row for row in rows if "frac_reward_zero_std" in row]  # steps that reuse a batch log no rewards
    assert sampled and all(row["frac_reward_zero_std"] < 1 and row["reward_std"] > 0 for row in sampled), sampled


ANSWERED = "<think>\n1 + 1 = 2\n</think>\n<answer>\n999\n</answer>"
"""A completion with reasoning and a (wrong) answer tag, which a random tiny policy never writes."""


def plant_answered_rows(monkeypatch, trainer_class) -> None:
    """Odd rows of every step's batch become :data:`ANSWERED` (through the trainer's expert_completion hook)."""

    def plant(self, batch_row, row):
        if batch_row % 2 == 0:
            return None
        tokenizer = self.policy_tokenizer
        return tokenizer(ANSWERED, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]

    monkeypatch.setattr(trainer_class, "expert_completion", plant)
