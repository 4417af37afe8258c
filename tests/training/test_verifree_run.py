"""A tiny VeriFree run (method.reward_source=verifree): the reference answer replaces the written one after the
sampled reasoning, the reward is its probability under the policy, and the advantages are VeriFree's, each checked
against an independent forward pass."""

from __future__ import annotations

import pytest
import torch
from tiny_runs import ANSWERED, plant_answered_rows, step_rows

from reasoning_irl.config import ConfigError
from reasoning_irl.training.grpo import run_grpo
from reasoning_irl.training.reference_answer import answer_block
from reasoning_irl.training.verifree import ReasoningVeriFreeTrainer


def test_verifree_pays_the_policys_probability_of_the_reference_answer(compose_run, monkeypatch):
    seen = []

    real_buffer = ReasoningVeriFreeTrainer.buffer

    def spy(self, batch):  # an independent forward pass of every row, by the model that scored the batch
        with torch.no_grad():
            logps = []
            for b in range(batch["completion_ids"].size(0)):
                prompt = batch["prompt_ids"][b][batch["prompt_mask"][b].bool()]
                ids = batch["completion_ids"][b][batch["completion_mask"][b].bool()]
                whole = torch.cat([prompt, ids])[None]
                logits = self.model(input_ids=whole).logits[0, :-1].float()
                logps.append(logits.log_softmax(-1).gather(-1, whole[0, 1:, None])[:, 0][-len(ids) :])
        seen.append((self, dict(batch), list(self.step_inputs), logps))
        return real_buffer(self, batch)

    plant_answered_rows(monkeypatch, ReasoningVeriFreeTrainer)
    monkeypatch.setattr(ReasoningVeriFreeTrainer, "buffer", spy)
    cfg = compose_run(
        "grpo", "method.reward_source=verifree", "training.max_steps=2", "sampling.max_completion_length=40"
    )
    run_dir = run_grpo(cfg)
    assert len(seen) == 2
    trainer, batch, records, logps = seen[-1]
    tok = trainer.policy_tokenizer
    reasoning = tok(ANSWERED[: ANSWERED.index("<answer>")], add_special_tokens=False)["input_ids"]
    likelihoods = []
    exact = {"rtol": 1e-4, "atol": 0.0}  # R of a random model is tiny (about 1e-15): compare relatively
    for b, record in enumerate(records):
        ids = batch["completion_ids"][b][batch["completion_mask"][b].bool()].tolist()
        if b % 2 == 0:  # a random sample: no answer tag, kept as sampled, no reward
            assert "<answer>" not in tok.decode(ids)
            likelihoods.append(0.0)
            continue
        answer = tok(answer_block(record), add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
        assert ids == reasoning + answer  # the sampled reasoning ids, then the reference answer and the stop token
        likelihoods.append(logps[b][len(reasoning) :].sum().exp().item())
        assert 0 < likelihoods[-1] < 1
        torch.testing.assert_close(
            batch["advantages"][b][len(reasoning) : len(ids)], torch.full((len(answer),), likelihoods[-1]), **exact
        )
    r = torch.tensor(likelihoods, dtype=torch.float64).view(-1, 4)
    rloo = (r - (r.sum(1, keepdim=True) - r) / 3).reshape(-1).float()
    for b in range(len(records)):
        n = len(reasoning) if b % 2 else int(batch["completion_mask"][b].sum())
        torch.testing.assert_close(batch["advantages"][b, :n], torch.full((n,), rloo[b].item()), **exact)
    last = step_rows(run_dir)[-1]
    assert last["reward/answer_appended"] == pytest.approx(0.5)
    assert last["reward/answer_likelihood"] == pytest.approx(sum(likelihoods) / len(likelihoods), rel=1e-3)
    assert "rewards/correctness/mean" in last  # the grader's view, logged beside the reward it does not give


def test_an_unknown_reward_source_is_refused(compose_run):
    with pytest.raises(ConfigError, match="method.reward_source 'oracle' unknown; choose one of: verifiable, verifree"):
        run_grpo(compose_run("grpo", "method.reward_source=oracle"))
