"""Batched per-policy-token reward scoring: equals the one-row loop and the AIRL trainer's Discriminator."""

from __future__ import annotations

import random
from types import SimpleNamespace

import pytest
import torch
from eval_helpers import eval_artifacts, one_thread  # noqa: F401  (fixtures)

from reasoning_irl.data import load_split
from reasoning_irl.models import scoring
from reasoning_irl.models.scoring import score_policy_tokens, score_policy_tokens_loop, token_texts


@pytest.fixture(scope="module", params=["rm", "rm_lm_prior"])
def setup(eval_artifacts, request):
    """Each test runs with a plain reward model and with one whose token score reads the previous position's
    LM prediction (lm_prior), so the prompt-cache path must hand the first completion token its prediction."""
    from reasoning_irl.models.loading import load_tokenizer
    from reasoning_irl.models.reward_model import load_reward_model

    model, rtok = load_reward_model(eval_artifacts[request.param])
    ptok = load_tokenizer(str(eval_artifacts["policy"]))
    records = load_split({"name": "synthetic", "num_test": 12}, "test")
    rng = random.Random(0)
    prompts, completions = [], []
    for i in range(11):
        record = records[i % len(records)]
        ids = ptok(record["target"], add_special_tokens=False)["input_ids"]
        ids = ids[: rng.randint(0, len(ids))]  # varied lengths, including an empty completion
        if i % 2:
            ids = ids + [ptok.eos_token_id]
        prompts.append(record["prompt"])
        completions.append(ids)
    return model, rtok, ptok, prompts, completions


@pytest.fixture(params=["shared", "aligned"])
def shared(request, monkeypatch):
    """Run each test with the shared-vocabulary path and with the character-offset alignment path."""
    if request.param == "aligned":
        monkeypatch.setattr(scoring, "same_tokenizer", lambda a, b: False)
    return request.param == "shared"


def test_batched_equals_loop(setup, shared):
    model, rtok, ptok, prompts, completions = setup
    batched = score_policy_tokens(model, rtok, ptok, prompts, completions, temperature=2.0, batch_size=4)
    loop = score_policy_tokens_loop(model, rtok, ptok, prompts, completions, temperature=2.0)
    assert [len(r) for r in batched] == [len(c) for c in completions]
    for a, b in zip(batched, loop):
        assert a == pytest.approx(b, abs=1e-5)
    assert len({round(x, 6) for r in batched for x in r}) > 5  # really varying rewards


@pytest.fixture(scope="module")
def samples(setup):
    """N samples per prompt, like evaluation: groups of 1, 2 and 5 rows (different prompt lengths), an empty
    completion inside a group, and another record's completion under a repeated prompt."""
    _, _, ptok, prompts, completions = setup
    pick = [(0, 0), (0, 1), (2, 2), (2, 3), (2, 4), (2, 5), (2, 0), (6, 6), (3, 7), (3, 8), (0, 9), (3, None)]
    return [prompts[p] for p, _ in pick], [[] if c is None else completions[c] for _, c in pick]


def test_prompt_sharing_equals_loop_and_whole_rows(setup, samples, shared):
    model, rtok, ptok, _, _ = setup
    prompts, completions = samples
    loop = score_policy_tokens_loop(model, rtok, ptok, prompts, completions, temperature=2.0, clip=1.5)
    for batch_size in (1, 2, 4, 32):
        for share in (True, False):
            got = score_policy_tokens(
                model,
                rtok,
                ptok,
                prompts,
                completions,
                temperature=2.0,
                clip=1.5,
                batch_size=batch_size,
                share_prompts=share,
            )
            assert [len(r) for r in got] == [len(c) for c in completions]
            for a, b in zip(got, loop):
                assert a == pytest.approx(b, abs=1e-5)


def test_a_shared_prompt_runs_once(setup, samples):
    model, rtok, ptok, _, _ = setup
    prompts, completions = samples
    seen = []
    hook = model.register_forward_hook(
        lambda m, args, kwargs, out: seen.append(kwargs["input_ids"].shape), with_kwargs=True
    )
    try:
        score_policy_tokens(model, rtok, ptok, prompts, completions, batch_size=32)
        shared_tokens, seen[:] = sum(s.numel() for s in seen), []
        score_policy_tokens(model, rtok, ptok, prompts, completions, batch_size=32, share_prompts=False)
        whole_tokens = sum(s.numel() for s in seen)
    finally:
        hook.remove()
    assert shared_tokens < whole_tokens * 0.7


def test_order_and_batch_size_do_not_matter(setup):
    model, rtok, ptok, prompts, completions = setup
    a = score_policy_tokens(model, rtok, ptok, prompts, completions, batch_size=3)
    b = score_policy_tokens(model, rtok, ptok, prompts[::-1], completions[::-1], batch_size=32)[::-1]
    for x, y in zip(a, b):
        assert x == pytest.approx(y, abs=1e-5)


@pytest.mark.parametrize("data", ["distinct", "samples"])
def test_same_as_discriminator_token_rewards(setup, samples, shared, data):
    from reasoning_irl.training.airl.config import AIRLMethod
    from reasoning_irl.training.airl.discriminator import Discriminator

    model, rtok, ptok, prompts, completions = setup
    if data == "samples":  # shared prompts, and padded rows (index -1) through the prompt cache
        prompts, completions = samples
    method = AIRLMethod(disc_updates_per_step=0, reward_temperature=2.0, reward_clip=3.0, disc_micro_batch_size=4)
    accelerator = SimpleNamespace(device=torch.device("cpu"), unwrap_model=lambda m: m)
    disc = Discriminator(model, rtok, ptok, method, seed=0).prepare(accelerator, total_updates=1)
    disc.shared = shared
    width = max(len(c) for c in completions)
    ids = torch.full((len(completions), width), ptok.pad_token_id, dtype=torch.long)
    mask = torch.zeros_like(ids)
    for i, c in enumerate(completions):
        ids[i, : len(c)] = torch.tensor(c, dtype=torch.long)
        mask[i, : len(c)] = 1
    expected = disc.token_rewards(prompts, ids, mask)
    got = score_policy_tokens(model, rtok, ptok, prompts, completions, temperature=2.0, batch_size=5, clip=3.0)
    for i, c in enumerate(completions):
        assert got[i] == pytest.approx(expected[i, : len(c)].tolist(), abs=1e-5)


def test_token_texts_concatenate_to_the_completion(setup):
    _, _, ptok, _, completions = setup
    for ids in completions:
        pieces = token_texts(ptok, ids)
        assert len(pieces) == len(ids)
        assert "".join(pieces) == ptok.decode(ids, skip_special_tokens=True)
    # a multi-byte character split over byte tokens still adds up
    ids = ptok("é→ 3", add_special_tokens=False)["input_ids"]
    assert "".join(token_texts(ptok, ids)) == ptok.decode(ids, skip_special_tokens=True)
