"""A shared prompt run once and continued per row gives the whole rows' outputs, gradients included."""

from __future__ import annotations

import random

import pytest
import torch
from eval_helpers import one_thread  # noqa: F401  (autouse fixture)
from transformers import AutoModelForCausalLM

from reasoning_irl.models import ensure_tiny_model
from reasoning_irl.models.prefix_cache import can_share_prompts, length_buckets, padded, shared_prompt_forward
from reasoning_irl.models.reward_model import TokenRewardModel
from reasoning_irl.training.policy_loss import completion_logps, shared_prompt_logps


@pytest.fixture(scope="module")
def paths(tmp_path_factory):
    root = tmp_path_factory.getbasetemp() / "prefix_cache_models"
    return {
        "policy": ensure_tiny_model(root / "tiny-qwen2-policy", arch="qwen2", preset="policy"),
        "reward": ensure_tiny_model(root / "tiny-qwen2-reward", arch="qwen2", preset="reward"),
    }


def rows(seed: int = 0):
    """Three prompts of different lengths; 2, 3 and 1 rows each; completions of 1 to 12 tokens."""
    rng = random.Random(seed)
    prompts = [[rng.randrange(5, 500) for _ in range(n)] for n in (9, 5, 7)]
    owners = [0, 1, 0, 1, 2, 1]
    lengths = [12, 1, 3, 11, 2, 12]
    return [prompts[o] for o in owners], [[rng.randrange(5, 500) for _ in range(n)] for n in lengths]


def test_length_buckets_split_only_where_it_saves_padding():
    # [1, 1, 1, 10]: one batch pads 40 cells, two pad 3 + 10 = 13
    assert length_buckets([10, 1, 1, 1]) == [[1, 2, 3], [0]]
    # [5, 5, 6]: one batch pads 18 cells, the best split 10 + 6 = 16 (11 % fewer, under the 15 % bar)
    assert length_buckets([5, 6, 5]) == [[0, 1, 2]]
    assert length_buckets([7]) == [[0]]


def test_policy_log_probs_equal_the_whole_rows(paths):
    model = AutoModelForCausalLM.from_pretrained(paths["policy"]).eval()
    assert can_share_prompts(model)
    prompts, completions = rows()
    with torch.no_grad():
        shared = shared_prompt_logps(model, prompts, completions, pad_id=0, temperature=0.7)
        prompt_ids, prompt_mask = padded(prompts, 0, side="left")
        comp_ids, comp_mask = padded(completions, 0)
        whole = completion_logps(
            model, torch.cat([prompt_ids, comp_ids], 1), torch.cat([prompt_mask, comp_mask], 1), comp_ids.size(1), 0.7
        )
    assert [len(s) for s in shared] == [len(c) for c in completions]
    for k, s in enumerate(shared):
        torch.testing.assert_close(s, whole[k, : len(completions[k])], atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("lm_prior", [False, True])
def test_reward_scores_and_their_gradients_equal_the_whole_rows(paths, lm_prior):
    torch.manual_seed(0)
    model = TokenRewardModel(str(paths["reward"]), lm_prior=lm_prior)
    torch.nn.init.normal_(model.head.weight)  # lm_prior starts the head at 0: make it count
    prompts, completions = rows(1)

    def loss_and_grads(values: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        model.zero_grad()
        loss = (values * torch.arange(1, values.numel() + 1)).sum()  # every row weighs differently
        loss.backward()
        return loss.detach(), [p.grad.clone() for p in model.parameters() if p.grad is not None]

    logits = shared_prompt_forward(model, model.fill_cache, prompts, completions, pad_id=0, device="cpu")
    shared = torch.cat([logits[i, 1 : 1 + len(c)] for i, c in enumerate(completions)])
    ids, mask = padded([p + c for p, c in zip(prompts, completions)], 0)
    full = model(input_ids=ids, attention_mask=mask)
    whole = torch.cat([full[i, len(p) : len(p) + len(c)] for i, (p, c) in enumerate(zip(prompts, completions))])
    torch.testing.assert_close(shared.detach(), whole.detach(), atol=1e-5, rtol=1e-5)
    (_, grads_s), (_, grads_w) = loss_and_grads(shared), loss_and_grads(whole)
    assert len(grads_s) == len(grads_w) > 0
    for gs, gw in zip(grads_s, grads_w):  # float32 sums in another order: close relative to the largest entry
        torch.testing.assert_close(gs, gw, atol=1e-5 * gw.abs().max().item(), rtol=1e-4)


def test_a_checkpointed_model_shares_prompts_only_outside_training(paths):
    model = AutoModelForCausalLM.from_pretrained(paths["policy"])
    model.gradient_checkpointing_enable()
    model.train()
    assert not can_share_prompts(model)  # transformers keeps no cache there
    model.eval()
    assert can_share_prompts(model)


def test_rows_of_very_different_lengths_continue_in_two_batches(paths):
    model = AutoModelForCausalLM.from_pretrained(paths["policy"]).eval()
    prompts, completions = rows()
    widths = []
    hook = model.register_forward_hook(
        lambda m, args, kwargs, out: widths.append(kwargs["input_ids"].shape), with_kwargs=True
    )
    try:
        with torch.no_grad():
            shared_prompt_logps(model, prompts, completions, pad_id=0)
    finally:
        hook.remove()
    # the prompt pass (3 prompts of up to 9 tokens), then rows of 2-4 and of 12-13 tail tokens apart
    assert widths == [torch.Size([3, 9]), torch.Size([3, 4]), torch.Size([3, 13])]
