"""The AIRL trainer on one captured step: discriminator rows, advantages, the loss path, and every method knob."""

from __future__ import annotations

import dataclasses
import random

import pytest
import torch

from reasoning_irl.composition import compose
from reasoning_irl.models.scoring import cached_prompt_ids
from reasoning_irl.rewards.perturbations import Perturbed
from reasoning_irl.training.airl import batch as disc_batch
from reasoning_irl.training.airl import run as airl_run
from reasoning_irl.training.airl.discriminator import Discriminator
from reasoning_irl.training.airl.micro_batches import expert_row
from reasoning_irl.training.airl.trainer import ReasoningAIRLTrainer

# 48 tokens: the expert trace placed in each group fits whole, so its outcome (correctness) is 1.
CHEAP = [
    "dataset.num_train=4",
    "sampling.max_completion_length=48",
    "training.max_steps=1",
    "method.disc_updates_per_step=1",
    "method.perturbations_per_expert=2",
    "training.save_steps=100",
]


@pytest.fixture(scope="module")
def step(artifacts, tmp_path_factory):
    """One real AIRL step; returns what the trainer saw and built (trainer, inputs, output, rows, completions)."""
    seen: dict = {}
    real_generate, real_update = ReasoningAIRLTrainer._generate_and_score_completions, Discriminator.update

    def generate(self, inputs):
        output = real_generate(self, inputs)
        seen.update(trainer=self, inputs=inputs, output=output, outcome=self._step_outcome)
        return output

    def update(self, rows, completions, policy_logps=None):
        seen.update(rows=rows, completions=completions)
        return real_update(self, rows, completions, policy_logps)

    out = tmp_path_factory.mktemp("airl_step")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(ReasoningAIRLTrainer, "_generate_and_score_completions", generate)
        mp.setattr(Discriminator, "update", update)
        airl_run.run_airl(
            compose("airl", ["experiment=tiny_airl", f"output_root={out}", f"artifacts_dir={artifacts}", *CHEAP])
        )
    seen["trainer"].model.train()
    return seen


def sample_texts(step) -> dict[str, list[list[int]]]:
    """Per prompt (as JSON-ish key): the sampled completion ids of its non-expert rows."""
    trainer, inputs, output = step["trainer"], step["inputs"], step["output"]
    found: dict[str, list[list[int]]] = {}
    for i, row in enumerate(inputs):
        if not trainer._is_expert_row(i, row):
            ids = output["completion_ids"][i][output["completion_mask"][i].bool()].tolist()
            found.setdefault(repr(row["prompt"]), []).append(ids)
    return found


def test_every_row_carries_its_own_prompt(step):
    rows, completions, inputs = step["rows"], step["completions"], step["inputs"]
    assert len({repr(r["prompt"]) for r in inputs}) == 2  # two records per step: a mix-up would show
    targets = {repr(r["prompt"]): r["target"] for r in inputs}
    samples = sample_texts(step)
    for row, ids in zip(rows, completions):
        key = repr(row.prompt)
        if row.kind == "policy":
            assert ids in samples[key]  # a sample of THIS prompt, scored on the ids that were sampled
            samples[key].remove(ids)
        else:
            assert (row.completion == targets[key]) == (row.kind == "expert")
    assert all(not left for left in samples.values())  # every policy sample became a negative once


def test_unchanged_perturbed_text_and_group_expert_are_never_negatives(step, monkeypatch):
    trainer, inputs, output = step["trainer"], step["inputs"], step["output"]

    def lazy_perturb(text, names, rng, k):  # a broken generator: returns the text itself, then a real change
        return [Perturbed(text, None, "identity"), Perturbed(text + " 1", None, "append")]

    monkeypatch.setattr(disc_batch, "perturb", lazy_perturb)
    aligned = [
        trainer.disc.policy_ids(i.tolist(), m.tolist())
        for i, m in zip(output["completion_ids"], output["completion_mask"])
    ]
    rows, _ = trainer._disc_rows(inputs, output, aligned, step["outcome"])
    targets = {r["target"] for r in inputs}
    negatives = [r for r in rows if r.label == 0]
    assert [r.perturbation for r in negatives if r.kind == "perturbed"] == ["append", "append"]
    # The expert placed in each group (its last row) is a positive, never a policy negative.
    assert not any(r.completion in targets for r in negatives)
    assert sum(r.kind == "policy" for r in rows) == len(inputs) - 2


def test_extra_experts_are_positives_with_their_own_prompts_and_perturbations(step, monkeypatch):
    trainer, inputs, output = step["trainer"], step["inputs"], step["output"]
    monkeypatch.setattr(trainer, "method", dataclasses.replace(trainer.method, disc_extra_experts=5))
    aligned = [
        trainer.disc.policy_ids(i.tolist(), m.tolist())
        for i, m in zip(output["completion_ids"], output["completion_mask"])
    ]
    rows, completions = trainer._disc_rows(inputs, output, aligned, step["outcome"])
    own = {repr(r["prompt"]) for r in inputs}
    train = {repr(r["prompt"]): r["target"] for r in trainer.train_dataset}
    extra = [r for r in rows if repr(r.prompt) not in own]
    # Every other training record (fewer than 5 exist) joins as one expert plus its perturbed copies, never
    # as a policy sample; each perturbed copy is paired with the expert of its own prompt.
    assert {repr(r.prompt) for r in extra} == set(train) - own and len(set(train) - own) >= 1
    assert sorted({r.kind for r in extra}) == ["expert", "perturbed"]
    for r in extra:
        assert (r.completion == train[repr(r.prompt)]) == (r.kind == "expert")
        if r.kind == "perturbed":
            assert rows[expert_row(rows, r)].prompt == r.prompt
    assert sum(r.kind == "policy" for r in rows) == len(inputs) - 2  # the step's samples, unchanged
    positives = [r for r in rows if r.label == 1]
    assert sum(r.weight for r in positives) == pytest.approx(1.0) and len(completions) == len(rows)


def test_valid_tokens_with_zero_advantage_stay_loss_terms(step, monkeypatch):
    """With A = 1 on each row's first token and exactly 0 elsewhere, the grpo loss is -mean_b(1 / len_b);
    code that found padding by the advantage's value (A != 0) would drop the zeros and give -1."""
    trainer, output = step["trainer"], step["output"]
    mask = output["completion_mask"]
    adv = torch.zeros(mask.shape)
    adv[:, 0] = 1.0
    batch = {k: output[k] for k in ("prompt_ids", "prompt_mask", "completion_ids", "completion_mask")}
    monkeypatch.setattr(trainer, "beta", 0.0)
    loss = trainer.compute_loss(trainer.model, {**batch, "advantages": adv})
    lengths = mask.sum(-1).float()
    assert loss.item() == pytest.approx(-(1.0 / lengths).mean().item(), rel=1e-5)


def test_policy_log_probs_of_every_row_are_the_policy_scoring_it_alone(step):
    """The structured discriminator's log pi: batched (left-padded prompts, right-padded completions) equals
    each row scored alone, for sampled, expert and perturbed rows alike."""
    trainer, rows, completions = step["trainer"], step["rows"], step["completions"]
    logps = trainer._policy_logps(rows, completions)
    assert [len(lp) for lp in logps] == [len(c) for c in completions]
    kinds = {r.kind for r in rows}
    assert kinds == {"expert", "policy", "perturbed"}
    for kind in kinds:
        i = next(k for k, r in enumerate(rows) if r.kind == kind)
        prompt = cached_prompt_ids(trainer._tokenizer, rows[i].prompt, {})
        ids = torch.tensor([prompt + completions[i]])
        with torch.no_grad():
            logits = trainer.model(input_ids=ids).logits[0].float() / trainer.temperature
        alone = logits[len(prompt) - 1 : -1].log_softmax(-1).gather(-1, ids[0, len(prompt) :, None]).squeeze(-1)
        torch.testing.assert_close(logps[i], alone, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("structured", [False, True])
def test_the_update_gets_policy_log_probs_only_with_the_structured_discriminator(step, monkeypatch, structured):
    trainer, seen = step["trainer"], {}

    def update(rows, completions, policy_logps=None):
        seen.update(rows=rows, completions=completions, logps=policy_logps)
        return {"disc/loss": 0.0}

    monkeypatch.setattr(trainer.disc, "update", update)
    monkeypatch.setattr(trainer, "method", dataclasses.replace(trainer.method, structured_discriminator=structured))
    aligned = trainer._reward_side_ids(step["output"])
    trainer._update_discriminator(*trainer._disc_rows(step["inputs"], step["output"], aligned, step["outcome"]))
    if not structured:
        assert seen["logps"] is None
        return
    assert [len(lp) for lp in seen["logps"]] == [len(c) for c in seen["completions"]]
    assert all(bool((lp <= 0).all()) for lp in seen["logps"])


def test_f_minus_logpi_policy_reward_is_f_less_each_token_log_prob_scored_alone(step, monkeypatch):
    """AIRL's log D - log(1-D): the token reward f minus log π(token) under the policy at the sampling
    temperature, each row scored alone as a check of the batched (left-padded) pass; 0 on padding."""
    trainer, inputs, output = step["trainer"], step["inputs"], step["output"]
    monkeypatch.setattr(trainer.disc, "update", lambda rows, completions, policy_logps=None: {"disc/loss": 0.0})
    method = dataclasses.replace(trainer.method, structured_discriminator=True)
    monkeypatch.setattr(trainer, "method", method)
    aligned = trainer._reward_side_ids(output)
    f = trainer._token_rewards(inputs, output, aligned)
    monkeypatch.setattr(trainer, "method", dataclasses.replace(method, policy_reward="f_minus_logpi"))
    logged: dict[str, float] = {}
    monkeypatch.setattr(trainer, "record", lambda key, value: logged.__setitem__(key, value))
    rewards = trainer._token_rewards(inputs, output, aligned)
    mask = output["completion_mask"]
    assert "reward/policy_token_mean" in logged and bool((rewards[mask == 0] == 0).all())
    for b in (0, mask.size(0) - 1):  # a sampled row and a group's expert row
        prompt = output["prompt_ids"][b][output["prompt_mask"][b].bool()]
        comp = output["completion_ids"][b][mask[b].bool()]
        ids = torch.cat([prompt, comp])[None]
        with torch.no_grad():
            logits = trainer.model(input_ids=ids).logits[0].float() / trainer.temperature
        alone = logits[len(prompt) - 1 : -1].log_softmax(-1).gather(-1, comp[:, None]).squeeze(-1)
        torch.testing.assert_close(rewards[b, : len(comp)], f[b, : len(comp)] - alone, atol=1e-4, rtol=1e-4)
        assert bool((alone < 0).all())


def observe(step, **change) -> dict:
    """What a knob can change on the captured step: token rewards, advantages, rows, disc loss on fixed scores."""
    trainer, inputs, output = step["trainer"], step["inputs"], step["output"]
    method = dataclasses.replace(step.setdefault("method", trainer.method), **change)
    trainer.method = trainer.disc.method = method
    ids, mask = output["completion_ids"], output["completion_mask"]
    prompts = [r["prompt"] for r in inputs]
    rewards = trainer.disc.token_rewards(prompts, ids, mask)
    adv = trainer._advantages(output, rewards, step["outcome"])
    aligned = [trainer.disc.policy_ids(i.tolist(), m.tolist()) for i, m in zip(ids, mask)]
    trainer.disc.rng = random.Random(5)  # the same perturbation draws for every setting
    rows, _ = trainer._disc_rows(inputs, output, aligned, step["outcome"])
    fixed_rows, fixed_completions = step["rows"], step["completions"]
    if "scores" not in step:
        step["scores"] = trainer.disc.scores(fixed_rows, fixed_completions)
    loss = trainer.disc.loss_from_scores(step["scores"], fixed_rows)
    trainer.method = trainer.disc.method = step["method"]
    return {"rewards": rewards, "advantages": adv, "rows": [(r.kind, r.completion) for r in rows], "loss": loss}


KNOBS = [
    ("reward_temperature", 3.0),
    ("reward_clip", 1e-3),
    ("gamma", 0.5),
    ("gamma", 1.0),
    ("normalize_rewards", False),
    ("outcome_reward_weight", 1.0),
    ("expert_in_group", "none"),
    ("expert_in_group", "balanced"),
    ("advantage", "grpo_token_rms"),
    ("advantage", "prime"),
    ("advantage", "rloo"),
    ("advantage", "sparse"),
    ("perturbations_per_expert", 0),
    ("perturbations_per_expert", 1),
    ("perturbations", ["shift_answer"]),
    ("label_smoothing", 0.3),
    ("disc_temperature", 4.0),
    ("pairwise_margin_weight", 0.0),
    ("pairwise_margin", 10.0),
    ("disc_loss", "wgan"),
    ("disc_loss", "relativistic"),
    ("disc_extra_experts", 2),
    ("reward_labels", "outcomes"),
]


@pytest.mark.parametrize(("knob", "value"), KNOBS, ids=[f"{k}={v}" for k, v in KNOBS])
def test_every_knob_changes_what_it_should(step, knob, value):
    base, changed = observe(step), observe(step, **{knob: value})
    assert getattr(step["method"], knob) != value  # the preset is not already there
    differs = {
        "rewards": not torch.allclose(base["rewards"], changed["rewards"]),
        "advantages": not torch.allclose(base["advantages"], changed["advantages"]),
        "rows": base["rows"] != changed["rows"],
        "loss": not torch.allclose(base["loss"], changed["loss"]),
    }
    assert any(differs.values()), f"method.{knob}={value!r} changed nothing"


def test_the_relativistic_loss_pairs_every_negative_with_its_own_problems_expert(step, monkeypatch):
    from reasoning_irl.training.airl.losses import relativistic_loss

    trainer, rows = step["trainer"], step["rows"]
    # the preset's pairwise margin term off: the loss alone
    relativistic = dataclasses.replace(trainer.method, disc_loss="relativistic", pairwise_margin_weight=0.0)
    monkeypatch.setattr(trainer.disc, "method", relativistic)
    scores = torch.linspace(-1.0, 1.0, len(rows))
    experts = {r.source_index: i for i, r in enumerate(rows) if r.kind == "expert"}
    pairs = torch.tensor([i if r.kind == "expert" else experts[r.source_index] for i, r in enumerate(rows)])
    labels = torch.tensor([float(r.label) for r in rows])
    weights = torch.tensor([r.weight for r in rows])
    assert {r.kind for r in rows} == {"expert", "policy", "perturbed"} and len(experts) > 1
    expected = relativistic_loss(scores, labels, weights, pairs)
    torch.testing.assert_close(trainer.disc.loss_from_scores(scores, rows), expected)


def test_outcome_labels_are_each_samples_own_graded_outcome(step, monkeypatch):
    trainer, inputs, output, outcome = step["trainer"], step["inputs"], step["output"], step["outcome"]
    prime = dataclasses.replace(trainer.method, reward_labels="outcomes", expert_in_group="none")
    monkeypatch.setattr(trainer, "method", prime)
    aligned = trainer._reward_side_ids(output)
    # the captured outcomes with every other sample graded correct, so both labels occur
    graded = outcome.clone()
    graded[::2] = 1.0
    rows, completions = trainer._disc_rows(inputs, output, aligned, graded)
    assert [r.kind for r in rows] == ["policy"] * len(inputs)
    # rows come grouped by prompt in order of first appearance; each keeps its own sample's ids and grade
    order = sorted(range(len(inputs)), key=lambda i: [r["id"] for r in inputs].index(inputs[i]["id"]))
    assert [r.label for r in rows] == [int(graded[i] > 0) for i in order] and {0, 1} <= {r.label for r in rows}
    assert completions == [aligned[i][0] for i in order]
    assert [r.prompt for r in rows] == [inputs[i]["prompt"] for i in order]


def test_a_problem_without_a_demonstration_gets_no_expert_row_and_no_positive(step, monkeypatch):
    """method.num_demonstrations: the problem's group is all policy samples, and neither it nor a training problem
    outside the demonstrations is ever a positive (extra experts come from the demonstrations only)."""
    trainer, inputs, output = step["trainer"], step["inputs"], step["output"]
    missing = inputs[0]["id"]
    rows_in = [dict(r, has_demonstration=r["id"] != missing) for r in inputs]
    monkeypatch.setattr(trainer, "_step_inputs", rows_in)
    monkeypatch.setattr(trainer, "method", dataclasses.replace(trainer.method, disc_extra_experts=5))
    monkeypatch.setattr(trainer, "_has_demonstration", [False] * len(trainer._train_ids))
    g = trainer.num_generations
    expected = [i % g == g - 1 and r["id"] != missing for i, r in enumerate(rows_in)]
    assert [trainer.expert_completion(i, i) is not None for i in range(len(rows_in))] == expected
    assert trainer._expert_mask().tolist() == expected and any(expected) and not all(r for r in expected[:g])
    rows, completions = trainer._disc_rows(rows_in, output, trainer._reward_side_ids(output), step["outcome"])
    kinds = {
        rid: [r.kind for r in rows if r.source_index == i]
        for i, rid in enumerate(dict.fromkeys(r["id"] for r in rows_in))
    }
    assert kinds[missing] == ["policy"] * sum(r["id"] == missing for r in rows_in)  # its last row too
    assert all(k.count("expert") == 1 for rid, k in kinds.items() if rid != missing)
    assert len({r.source_index for r in rows}) == len(kinds) and len(completions) == len(rows)  # no extra expert
