"""The AIRL Discriminator on the tiny reward models: token alignment, exact micro-batching, update variants, state."""

from __future__ import annotations

import dataclasses
import random

import pytest
import torch
from accelerate import Accelerator
from accelerate.optimizer import AcceleratedOptimizer

from reasoning_irl.models import ensure_tiny_model
from reasoning_irl.models.config import LoraSettings
from reasoning_irl.models.loading import load_tokenizer
from reasoning_irl.models.prefix_cache import can_share_prompts
from reasoning_irl.models.reward_model import TokenRewardModel
from reasoning_irl.training.airl.batch import build_disc_batch
from reasoning_irl.training.airl.config import AIRLMethod
from reasoning_irl.training.airl.discriminator import Discriminator
from reasoning_irl.training.divergence import NonFiniteValue

SYSTEM = {"role": "system", "content": "Solve."}
RECORDS = [
    {
        "prompt": [SYSTEM, {"role": "user", "content": "Tom has 3 apples and gets 14. How many?"}],
        "target": "<think>\n3 + 14 = 17\n17 - 5 = 12\n</think>\n<answer>\n12\n</answer>",
    },
    {
        "prompt": [SYSTEM, {"role": "user", "content": "Ann has 20 pens and loses 6. How many?"}],
        "target": "<think>\n20 - 6 = 14\n14 + 2 = 16\n</think>\n<answer>\n16\n</answer>",
    },
]
SAMPLES = [["3 + 4 = 7", "<answer>\n9\n</answer>"], ["20 20 20", "<think>\n14\n</think>"]]


@pytest.fixture(scope="module")
def paths(artifacts):
    return {
        "reward": ensure_tiny_model(artifacts / "tiny-qwen2-reward", arch="qwen2", preset="reward"),
        "policy": artifacts / "tiny-qwen2-policy",  # built by the session fixture
        "llama": ensure_tiny_model(artifacts / "tiny-llama-reward", arch="llama", preset="reward"),
    }


@pytest.fixture(scope="module")
def accelerator():
    return Accelerator(cpu=True)


def reward_model(path, seed: int = 0, dropout: float = 0.0, lora: bool = True, lm_prior: bool = False):
    torch.manual_seed(seed)  # the LoRA and head initialisation
    return TokenRewardModel(
        str(path), lora=LoraSettings(r=4, alpha=8, dropout=dropout) if lora else None, lm_prior=lm_prior
    )


def make_disc(paths, accelerator, policy="policy", reward="reward", seed=0, dropout=0.0, **method):
    tokenizer = load_tokenizer(str(paths[reward]))
    model = reward_model(paths[reward], seed=seed, dropout=dropout, lm_prior=method.get("reward_lm_prior", False))
    m = AIRLMethod(**{"disc_learning_rate": 1e-2, "perturbations_per_expert": 2, **method})
    disc = Discriminator(model, tokenizer, load_tokenizer(str(paths[policy])), m, seed=3)
    return disc.prepare(accelerator, total_updates=10)


def rows_of(disc):
    rows = build_disc_batch(RECORDS, SAMPLES, disc.method.perturbations, 2, random.Random(0))
    return rows, [disc.text_ids(r.completion) for r in rows]


def trainable(disc) -> dict[str, torch.Tensor]:
    return {n: p.detach().clone() for n, p in disc.module.named_parameters() if p.requires_grad}


def padded(ids_per_row: list[list[int]], filler: int) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(r) for r in ids_per_row) + 2  # extra padding on every row
    ids = torch.full((len(ids_per_row), width), filler)
    mask = torch.zeros_like(ids)
    for b, r in enumerate(ids_per_row):
        ids[b, : len(r)], mask[b, : len(r)] = torch.tensor(r), 1
    return ids, mask


def test_token_rewards_are_the_logits_of_the_policy_tokens_themselves(paths, accelerator):
    disc = make_disc(paths, accelerator, reward_temperature=2.0)
    assert disc.shared  # the tiny policy and reward model share one tokenizer
    tok = disc.policy_tokenizer
    rows = [
        tok("3 + 4 = 7", add_special_tokens=False)["input_ids"] + [tok.eos_token_id],
        tok("<think>\n20 - 6 = 14\n</think>", add_special_tokens=False)["input_ids"],
    ]
    ids, mask = padded(rows, filler=rows[0][0])  # padding holds a real token id: only the mask may mark it
    prompts = [r["prompt"] for r in RECORDS]
    rewards = disc.token_rewards(prompts, ids, mask)
    assert rewards.shape == ids.shape
    for b, real in enumerate(rows):
        prompt = disc.prompt_ids(prompts[b])
        with torch.no_grad():
            logits = disc.module(torch.tensor([prompt + real]))[0]
        # reward[b, t] = logit at prompt_len + t (the position OF token t), not + t - 1.
        expected = logits[len(prompt) : len(prompt) + len(real)] / 2.0
        torch.testing.assert_close(rewards[b, : len(real)], expected, atol=1e-5, rtol=1e-5)
        assert torch.all(rewards[b, len(real) :] == 0)


def test_token_rewards_with_another_tokenizer_have_the_policy_shape(paths, accelerator):
    disc = make_disc(paths, accelerator, reward="llama")
    assert not disc.shared
    ptok = disc.policy_tokenizer
    rows = [
        ptok("17 - 5 = 12", add_special_tokens=False)["input_ids"] + [ptok.eos_token_id],
        ptok("<answer>\n16\n</answer>", add_special_tokens=False)["input_ids"],
    ]
    ids, mask = padded(rows, filler=ptok.pad_token_id)
    prompts = [r["prompt"] for r in RECORDS]
    rewards = disc.token_rewards(prompts, ids, mask)
    assert rewards.shape == ids.shape
    assert torch.all(rewards[mask == 0] == 0) and torch.all(rewards[mask == 1] != 0)
    # The policy's end token reads the reward model's appended end token (where a sparse score is trained).
    reward_ids, _ = disc.policy_ids(rows[0], [1] * len(rows[0]))
    assert reward_ids[-1] == disc.eos_id
    prompt = disc.prompt_ids(prompts[0])
    with torch.no_grad():
        last = disc.module(torch.tensor([prompt + reward_ids]))[0, -1]
    assert rewards[0, len(rows[0]) - 1].item() == pytest.approx(last.item(), abs=1e-5)


@pytest.mark.parametrize("kind", ["bce", "wgan"])
def test_micro_batched_update_equals_the_full_batch_update(paths, accelerator, kind):
    extra = {"pairwise_margin_weight": 1.0} if kind == "bce" else {"wgan_lipschitz": "weight_clip", "weight_clip": 10.0}
    results = []
    for micro in (1, 64):
        disc = make_disc(
            paths, accelerator, disc_micro_batch_size=micro, disc_loss=kind, disc_max_grad_norm=1e6, **extra
        )
        rows, completions = rows_of(disc)
        before = trainable(disc)
        metrics = disc.update(rows, completions)
        state = disc.optimizer.state_dict()["state"]
        results.append((before, trainable(disc), [s["exp_avg"].clone() for s in state.values()], metrics))
    (b1, a1, m1, x1), (b64, a64, m64, x64) = results
    # Adam's first step is nearly sign(g): its first moment (0.1 g) checks the gradient itself, tightly.
    scale = max(g.abs().max().item() for g in m64)
    for name, g1, g64 in zip(a1, m1, m64):
        torch.testing.assert_close(b1[name], b64[name])  # same start
        torch.testing.assert_close(g1, g64, atol=1e-5 * scale, rtol=1e-4)
        # Same update, except where the gradient is ~0 (e.g. the head bias under wgan) and Adam's
        # normalisation turns rounding noise into a +-lr step.
        real = g64.abs() > 1e-4 * scale
        torch.testing.assert_close(a1[name][real], a64[name][real], atol=1e-5, rtol=1e-5)
    assert any(not torch.equal(b1[n], a1[n]) for n in a1)
    assert x1["disc/loss"] == pytest.approx(x64["disc/loss"], rel=1e-5)


def test_the_two_passes_of_a_micro_batch_share_dropout_masks(paths, accelerator):
    disc = make_disc(paths, accelerator, dropout=0.5)
    with torch.no_grad():  # LoRA B starts at 0, which would hide the dropout on A's input
        for name, p in disc.module.named_parameters():
            if "lora_B" in name:
                p.normal_()
    rows, completions = rows_of(disc)
    prompts = [disc.prompt_ids(r.prompt) for r in rows]
    with torch.no_grad():
        seeded = [disc._forward_scores(prompts, completions, seed=11) for _ in range(2)]
        free = [disc._forward_scores(prompts, completions) for _ in range(2)]
    torch.testing.assert_close(seeded[0], seeded[1])
    assert not torch.equal(free[0], free[1])  # dropout is active: only the seed makes the passes agree


def test_discriminator_is_prepared_by_accelerate(paths, accelerator):
    disc = make_disc(paths, accelerator)
    assert isinstance(disc.optimizer, AcceleratedOptimizer)
    assert getattr(disc.model, "_is_accelerate_prepared", False)


def test_update_steps_even_on_a_policy_accumulation_micro_step(paths, accelerator):
    """Generation (hence the update) runs on the first of several accumulation micro-steps, where the
    Trainer has set sync_gradients=False; accelerate would then silently skip the optimizer step."""
    disc = make_disc(paths, accelerator)
    rows, completions = rows_of(disc)
    state = accelerator.gradient_state
    state._set_sync_gradients(False)
    try:
        before = trainable(disc)
        disc.update(rows, completions)
        assert state.sync_gradients is False  # restored for the policy's accumulation
    finally:
        state._set_sync_gradients(True)
    assert any(not torch.equal(before[n], p) for n, p in trainable(disc).items())
    assert all(p.grad is None for p in disc.module.parameters())


def test_frozen_discriminator_never_changes(paths, accelerator):
    disc = make_disc(paths, accelerator, disc_updates_per_step=0, frozen_reward_model="saved")
    rows, completions = rows_of(disc)
    before = {n: p.detach().clone() for n, p in disc.module.named_parameters()}
    metrics = disc.update(rows, completions)
    assert disc.optimizer is None and not any(p.requires_grad for p in disc.module.parameters())
    assert {"disc/loss", "disc/accuracy_perturbed", "disc/score_expert"} <= set(metrics)
    for n, p in disc.module.named_parameters():
        assert torch.equal(before[n], p), n


def test_weight_clip_clamps_trainable_parameters_only(paths, accelerator):
    disc = make_disc(paths, accelerator, disc_loss="wgan", wgan_lipschitz="weight_clip", weight_clip=0.01)
    frozen = {n: p.detach().clone() for n, p in disc.module.named_parameters() if not p.requires_grad}
    assert any(p.abs().max() > 0.01 for p in frozen.values())
    disc.update(*rows_of(disc))
    assert all(p.abs().max() <= 0.01 for p in trainable(disc).values())
    for n, p in disc.module.named_parameters():
        if n in frozen:
            assert torch.equal(frozen[n], p), n


def test_gradient_penalty_path_gives_a_finite_loss(paths, accelerator):
    disc = make_disc(paths, accelerator, disc_loss="wgan", wgan_lipschitz="gradient_penalty", disc_micro_batch_size=3)
    before = trainable(disc)
    metrics = disc.update(*rows_of(disc))
    assert torch.isfinite(torch.tensor(metrics["disc/loss"]))
    assert metrics["disc/gradient_penalty"] > 0 and torch.isfinite(torch.tensor(metrics["disc/gradient_penalty"]))
    assert any(not torch.equal(before[n], p) for n, p in trainable(disc).items())


def test_pairwise_margin_adds_the_hinge_against_each_own_expert(paths, accelerator):
    disc = make_disc(paths, accelerator, label_smoothing=0.0)
    rows, _ = rows_of(disc)
    kinds = [r.kind for r in rows]
    assert kinds.count("perturbed") == 4 and kinds.count("expert") == 2
    # Expert 0 scores 2, expert 1 scores 0; every perturbed row scores 1.5; policy rows -1.
    scores = torch.tensor(
        [{"expert": 2.0 - 2.0 * r.source_index, "perturbed": 1.5, "policy": -1.0}[r.kind] for r in rows]
    )
    plain = disc.loss_from_scores(scores, rows)
    disc.method = dataclasses.replace(disc.method, pairwise_margin_weight=0.5, pairwise_margin=1.0)
    # Hinge max(0, 1 - (e - p)): record 0's twins 1 - 0.5 = 0.5, record 1's twins 1 + 1.5 = 2.5.
    hinge = (2 * 0.5 + 2 * 2.5) / 4
    assert disc.loss_from_scores(scores, rows).item() == pytest.approx(plain.item() + 0.5 * hinge, abs=1e-6)


def test_state_round_trip_restores_optimizer_scheduler_and_perturbation_rng(paths, accelerator, tmp_path):
    disc = make_disc(paths, accelerator, disc_lr_scheduler_type="linear")
    disc.update(*rows_of(disc))
    torch.save(disc.state_dict(), tmp_path / "airl_state.pt")
    expected_draw = random.Random()
    expected_draw.setstate(disc.rng.getstate())
    other = make_disc(paths, accelerator, disc_lr_scheduler_type="linear", seed=1)
    other.rng.random()  # advance: the load must overwrite it
    other.load_state_dict(torch.load(tmp_path / "airl_state.pt", weights_only=False))
    assert other.rng.random() == expected_draw.random()
    mine, theirs = disc.optimizer.state_dict(), other.optimizer.state_dict()
    assert mine["state"] and len(mine["state"]) == len(theirs["state"])
    for k, s in mine["state"].items():
        for key in ("exp_avg", "exp_avg_sq", "step"):
            torch.testing.assert_close(s[key], theirs["state"][k][key])
    assert other.scheduler.state_dict() == disc.scheduler.state_dict()
    assert other.scheduler.get_last_lr() == disc.scheduler.get_last_lr() != [1e-2]


def test_non_finite_loss_never_reaches_the_weights(paths, accelerator, monkeypatch):
    disc = make_disc(paths, accelerator)
    rows, completions = rows_of(disc)
    monkeypatch.setattr(Discriminator, "loss_from_scores", lambda self, scores, rows: scores.sum() * float("nan"))
    before = trainable(disc)
    with pytest.raises(NonFiniteValue, match="discriminator loss is nan"):  # for the divergence guard to stop on
        disc.update(rows, completions)
    for n, p in trainable(disc).items():
        assert torch.equal(before[n], p), n


def test_head_trains_at_a_small_lr_on_a_bf16_backbone(paths, accelerator):
    """AdamW steps of ~lr vanish in a bf16 weight of ~0.03: the head is kept in float32 (the LoRA weights are)."""
    torch.manual_seed(0)
    model = TokenRewardModel(str(paths["reward"]), lora=LoraSettings(r=4, alpha=8), dtype=torch.bfloat16)
    tokenizer = load_tokenizer(str(paths["reward"]))
    disc = Discriminator(model, tokenizer, tokenizer, AIRLMethod(disc_learning_rate=1e-5), seed=0)
    disc.prepare(accelerator, total_updates=1)
    assert disc.module.head.weight.dtype == torch.float32
    before = disc.module.head.weight.detach().clone()
    disc.update(*rows_of(disc))
    assert (disc.module.head.weight != before).float().mean() > 0.9


def test_structured_scores_are_the_plain_scores_minus_the_mean_policy_log_prob(paths, accelerator):
    disc = make_disc(paths, accelerator, structured_discriminator=True)
    rows, completions = rows_of(disc)
    # Hand-picked log pi per token: a row's score drops by exactly the mean over its completion tokens.
    logps = [torch.full((len(c),), -0.5 * (i + 1)) for i, c in enumerate(completions)]
    logps[0] = torch.linspace(-3.0, 0.0, len(completions[0]))
    plain, structured = disc.scores(rows, completions), disc.scores(rows, completions, logps)
    expected = plain - torch.stack([lp.mean() for lp in logps])
    torch.testing.assert_close(structured, expected, atol=1e-5, rtol=1e-5)


def test_structured_update_needs_the_policy_log_probs_and_uses_them(paths, accelerator):
    rows, completions = rows_of(make_disc(paths, accelerator))
    with pytest.raises(ValueError, match="policy log-probabilities"):
        make_disc(paths, accelerator, structured_discriminator=True).update(rows, completions)
    low = [torch.full((len(c),), -4.0 if r.label else -0.1) for r, c in zip(rows, completions)]
    losses = [
        make_disc(paths, accelerator, structured_discriminator=True).update(rows, completions, lp)["disc/loss"]
        for lp in (low, [-x for x in low])
    ]
    # Experts the policy finds unlikely already score high (f - log pi): the loss is lower than when it is reversed.
    assert losses[0] < losses[1]
    micro = [
        make_disc(paths, accelerator, structured_discriminator=True, disc_micro_batch_size=size).update(
            rows, completions, low
        )["disc/loss"]
        for size in (1, 64)
    ]
    assert micro[0] == pytest.approx(micro[1], rel=1e-5) == losses[0]  # the policy term reaches every micro-batch


def test_structured_discriminator_needs_a_shared_tokenizer(paths, accelerator):
    from reasoning_irl.config import ConfigError

    with pytest.raises(ConfigError, match="share a tokenizer"):
        make_disc(paths, accelerator, reward="llama", structured_discriminator=True)
    with pytest.raises(ConfigError, match="reward_mode dense"):
        AIRLMethod(structured_discriminator=True, reward_mode="sparse", advantage="sparse").check()


def test_lm_prior_rewards_start_as_the_backbone_log_density_and_train(paths, accelerator):
    from transformers import AutoModelForCausalLM

    disc = make_disc(paths, accelerator, reward_lm_prior=True, structured_discriminator=True)
    tok = disc.policy_tokenizer
    real = tok("<think>\n20 - 6 = 14\n</think>", add_special_tokens=False)["input_ids"]
    ids, mask = padded([real], filler=tok.pad_token_id)
    prompt = disc.prompt_ids(RECORDS[1]["prompt"])
    full = torch.tensor([prompt + real])
    with torch.no_grad():
        lm = AutoModelForCausalLM.from_pretrained(str(paths["reward"])).eval()
        logps = torch.log_softmax(lm(input_ids=full).logits[0, :-1], -1).gather(-1, full[0, 1:, None])[:, 0]
    before = disc.token_rewards([RECORDS[1]["prompt"]], ids, mask)[0]
    torch.testing.assert_close(before[: len(real)], logps[len(prompt) - 1 :], atol=1e-5, rtol=1e-5)  # f = log p
    rows, completions = rows_of(disc)
    low = [torch.full((len(c),), -4.0 if r.label else -0.1) for r, c in zip(rows, completions)]
    micro = [
        make_disc(
            paths, accelerator, reward_lm_prior=True, structured_discriminator=True, disc_micro_batch_size=size
        ).update(rows, completions, low)["disc/loss"]
        for size in (1, 64)
    ]
    assert micro[0] == pytest.approx(micro[1], rel=1e-5)
    disc.update(rows, completions, low)
    assert not torch.allclose(disc.token_rewards([RECORDS[1]["prompt"]], ids, mask)[0], before)


def test_rows_of_one_prompt_run_it_once_with_the_same_scores(paths, accelerator):
    results = []
    for share in (True, False):
        disc = make_disc(paths, accelerator, reward_lm_prior=True)
        assert can_share_prompts(disc.model)  # a Qwen2 backbone: every layer sees the whole prefix
        disc.share_prompts = share
        rows, completions = rows_of(disc)
        tokens = []
        hook = disc.module.backbone.register_forward_hook(  # the prompt pass (fill_cache) included
            lambda m, args, kwargs, out, tokens=tokens: tokens.append(kwargs["input_ids"].numel()), with_kwargs=True
        )
        try:
            scores = disc.scores(rows, completions)
        finally:
            hook.remove()
        results.append((scores, sum(tokens)))
    (shared, shared_tokens), (whole, whole_tokens) = results
    torch.testing.assert_close(shared, whole, atol=1e-5, rtol=1e-5)
    assert shared_tokens < 0.8 * whole_tokens
