"""PRIME (method.reward_labels=outcomes, method.implicit_prm_beta): rows labelled by the grader, the options that
need expert traces refused, and a tiny run whose saved reward model is the implicit one it trained."""

from __future__ import annotations

import pytest
import torch

from reasoning_irl.composition import compose
from reasoning_irl.config import ConfigError
from reasoning_irl.models.reward_model import load_reward_model
from reasoning_irl.training.airl.batch import build_outcome_batch
from reasoning_irl.training.airl.config import AIRLMethod

PRIME = dict(
    reward_lm_prior=True,
    implicit_prm_beta=0.05,
    reward_labels="outcomes",
    expert_in_group="none",
    perturbations_per_expert=0,
)


def test_outcome_rows_by_hand():
    records = [{"prompt": [{"role": "user", "content": "a"}]}, {"prompt": [{"role": "user", "content": "b"}]}]
    rows = build_outcome_batch(records, [["a1", "a2"], ["b1", "b2", "b3"]], [[1.0, 0.0], [0.0, 0.25, -1.0]])
    assert [(r.completion, r.label, r.kind, r.source_index) for r in rows] == [
        ("a1", 1, "policy", 0),
        ("a2", 0, "policy", 0),
        ("b1", 0, "policy", 1),
        ("b2", 1, "policy", 1),  # a positive outcome reward is a positive label
        ("b3", 0, "policy", 1),
    ]
    assert [r.weight for r in rows] == [0.2] * 5 and rows[3].prompt == records[1]["prompt"]
    with pytest.raises(ValueError, match="2 sample groups and 1 outcome groups for 2 records"):
        build_outcome_batch(records, [["a1"], ["b1"]], [[1.0]])
    with pytest.raises(ValueError):
        build_outcome_batch(records, [["a1"], ["b1"]], [[1.0], [0.0, 1.0]])  # a sample without its outcome
    with pytest.raises(ValueError, match="at least one policy sample"):
        build_outcome_batch(records, [[], []], [[], []])


def test_the_prime_method_checks():
    AIRLMethod(**PRIME).check()
    AIRLMethod(reward_labels="outcomes", expert_in_group="none", perturbations_per_expert=0).check()  # a head PRM


@pytest.mark.parametrize(
    "change, message",
    [
        ({"expert_in_group": "one"}, "expert_in_group need expert traces"),
        ({"perturbations_per_expert": 2}, "perturbations_per_expert need expert traces"),
        ({"disc_extra_experts": 4}, "disc_extra_experts need"),
        ({"pairwise_margin_weight": 1.0}, "pairwise_margin_weight need"),
        ({"expert_error_rate": 0.2}, "expert_error_rate need"),
        ({"num_demonstrations": 16}, "num_demonstrations need"),
        ({"demonstration_style": "compact"}, "demonstration_style need"),
        ({"disc_loss": "relativistic"}, "disc_loss need"),
        ({"reward_labels": "grades"}, "reward_labels must be one of demonstrations, outcomes, got 'grades'"),
        ({"reward_lm_prior": False}, "implicit_prm_beta needs reward_lm_prior=true"),
        ({"implicit_prm_beta": -0.1}, "implicit_prm_beta needs reward_lm_prior=true .* a value > 0"),
        ({"reward_mode": "sparse", "advantage": "sparse"}, "implicit_prm_beta needs reward_mode dense"),
    ],
)
def test_what_an_outcome_trained_implicit_reward_refuses(change, message):
    with pytest.raises(ConfigError, match=message):
        AIRLMethod(**{**PRIME, **change}).check()


def test_a_tiny_prime_run_saves_the_implicit_reward_it_trained(artifacts, tmp_path):
    from transformers import AutoModelForCausalLM

    from reasoning_irl.training.airl import run as airl_run
    from reasoning_irl.training.airl.discriminator import Discriminator

    seen: dict = {}
    real_update = Discriminator.update

    def update(self, rows, completions, policy_logps=None):
        seen.setdefault("rows", []).append(rows)
        seen["disc"] = self
        return real_update(self, rows, completions, policy_logps)

    overrides = ["experiment=tiny_prime", f"output_root={tmp_path}", f"artifacts_dir={artifacts}"]
    overrides += ["training.max_steps=2", "method.disc_updates_per_step=4", "dataset.num_train=8"]
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(Discriminator, "update", update)
        run_dir = airl_run.run_airl(compose("airl", overrides))
    # every row is a policy sample of the step, labelled by the grader: no expert, no perturbed copy
    for rows in seen["rows"]:
        assert {r.kind for r in rows} == {"policy"} and len(rows) == 8
    loaded, _ = load_reward_model(run_dir / "reward_model")
    trained = seen["disc"].module
    assert loaded.implicit_prm_beta == 0.05
    ids = torch.tensor([[5, 17, 9, 23, 4, 11]])
    with torch.no_grad():
        torch.testing.assert_close(loaded.eval()(ids), trained.eval()(ids))
        reference = AutoModelForCausalLM.from_pretrained(artifacts / "tiny-qwen2-reward").eval()
        for mine, original in zip(loaded.reference.parameters(), reference.parameters(), strict=True):
            assert torch.equal(mine, original)  # p_ref is the backbone as it was, untouched by training
        assert loaded(ids).abs().max().item() > 0  # and the trained side moved away from it
