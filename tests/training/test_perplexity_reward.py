"""The perplexity reward (method.reward_source=perplexity): a frozen LM's mean log-probability of the reference
answer after each sample's reasoning pays the policy through GRPO's group-normalised advantages; checked against an
independent forward pass of the frozen LM, alone and with the verifiable rewards (hybrid)."""

from __future__ import annotations

import pytest
import torch
from tiny_runs import ANSWERED, LEARNING_REWARDS, plant_answered_rows, step_rows

from reasoning_irl.config import ConfigError
from reasoning_irl.training.grpo import run_grpo
from reasoning_irl.training.perplexity_reward import ReasoningPerplexityTrainer, scaled_advantages
from reasoning_irl.training.reference_answer import answer_block


def test_scaled_advantages_by_hand():
    rewards = torch.tensor([1.0, 3.0, 2.0, 2.0])  # groups of two: (1, 3) and a group of equal rewards
    torch.testing.assert_close(
        scaled_advantages(rewards, 2, "group"), torch.tensor([-1.0, 1.0, 0.0, 0.0]), atol=1e-3, rtol=0
    )
    torch.testing.assert_close(scaled_advantages(rewards, 2, "none"), torch.tensor([-1.0, 1.0, 0.0, 0.0]))
    batch_std = torch.tensor([1.0, 3.0, 2.0, 2.0]).std(unbiased=False)  # 0.7071
    torch.testing.assert_close(
        scaled_advantages(rewards, 2, "batch"), torch.tensor([-1.0, 1.0, 0.0, 0.0]) / batch_std, atol=1e-3, rtol=0
    )


@pytest.mark.parametrize("hybrid", [False, True])
def test_the_frozen_lm_scores_the_reference_answer_after_each_samples_reasoning(compose_run, monkeypatch, hybrid):
    seen = []

    real_buffer = ReasoningPerplexityTrainer.buffer

    def spy(self, batch):
        seen.append((self, dict(batch), list(self.step_inputs), self._step_outcome.clone()))
        return real_buffer(self, batch)

    plant_answered_rows(monkeypatch, ReasoningPerplexityTrainer)
    monkeypatch.setattr(ReasoningPerplexityTrainer, "buffer", spy)
    extra = [LEARNING_REWARDS, "method.hybrid=true"] if hybrid else []
    cfg = compose_run(
        "grpo",
        "method.reward_source=perplexity",
        f"method.reference_lm={compose_run('grpo').model.name_or_path}",
        "training.max_steps=1",
        "sampling.max_completion_length=40",
        *extra,
    )
    run_dir = run_grpo(cfg)
    trainer, batch, records, verifiable = seen[0]
    tok, frozen = trainer.policy_tokenizer, trainer.frozen_lm
    assert not any(p.requires_grad for p in frozen.parameters())
    scores = []
    for b, record in enumerate(records):
        ids = batch["completion_ids"][b][batch["completion_mask"][b].bool()].tolist()
        if b % 2:  # the planted reasoning, up to its answer tag
            reasoning = tok(ANSWERED[: ANSWERED.index("<answer>")], add_special_tokens=False)["input_ids"]
            bridge = ""
        else:  # no tag: the whole sample (less its stop token) is the reasoning, a newline bridges it
            reasoning = ids[:-1] if ids and ids[-1] == tok.eos_token_id else ids
            text = tok.decode(reasoning, skip_special_tokens=True)
            bridge = "" if not text or text.endswith("\n") else "\n"
        answer = tok(bridge + answer_block(record), add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
        prompt = batch["prompt_ids"][b][batch["prompt_mask"][b].bool()].tolist()
        whole = torch.tensor([prompt + reasoning + answer])
        with torch.no_grad():
            logits = frozen(input_ids=whole).logits[0, :-1].float()
        logps = logits.log_softmax(-1).gather(-1, whole[0, 1:, None])[:, 0][-len(answer) :]
        scores.append(logps.mean().item())
    rewards = torch.tensor(scores) + (verifiable if hybrid else 0.0)
    expected = scaled_advantages(rewards, 4, "group")
    torch.testing.assert_close(batch["advantages"].float(), expected, atol=1e-4, rtol=1e-4)
    row = step_rows(run_dir)[-1]
    assert row["reward/answer_logp"] == pytest.approx(sum(scores) / len(scores), abs=1e-4)
    assert row["reward/total"] == pytest.approx(rewards.mean().item(), abs=1e-4)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["method.reward_source=perplexity"], "method.reward_source=perplexity needs method.reference_lm"),
        (["method.reference_lm=/x"], "method.reference_lm and method.hybrid apply only with"),
        (
            ["method.reward_source=perplexity", "method.reference_lm=/no/such/lm"],
            "method.reference_lm: /no/such/lm does not exist",
        ),
    ],
)
def test_a_bad_perplexity_setting_is_one_line(compose_run, overrides, message):
    with pytest.raises(ConfigError, match=message) as info:
        run_grpo(compose_run("grpo", *overrides))
    assert "\n" not in str(info.value)
