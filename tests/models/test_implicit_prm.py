"""PRIME's implicit process reward as a token reward model: beta * (log p - log p_ref), p_ref frozen, summed."""

from __future__ import annotations

import json
import shutil

import pytest
import torch

from reasoning_irl.config import ConfigError
from reasoning_irl.models import ensure_tiny_model
from reasoning_irl.models.config import LoraSettings
from reasoning_irl.models.prefix_cache import can_share_prompts
from reasoning_irl.models.reward_model import META_FILE, TokenRewardModel, load_reward_model, load_reward_weights

LORA = LoraSettings(r=4, alpha=8, dropout=0.0, target_modules=["q_proj", "v_proj"])
BETA = 0.05


@pytest.fixture(scope="module")
def backbone(tmp_path_factory):
    return str(ensure_tiny_model(tmp_path_factory.mktemp("prm") / "tiny-qwen2-reward", preset="reward"))


@pytest.fixture(scope="module")
def tokenizer(backbone):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(backbone)


def _ids(tokenizer, text="<think>\n3 + 4 = 7\n</think>\n<answer>\n7\n</answer>"):
    return torch.tensor([tokenizer(text)["input_ids"]])


def _train_a_little(model):
    """Move the trained side away from the reference, as training would."""
    torch.manual_seed(3)
    with torch.no_grad():
        for p in model.backbone.parameters():
            if p.requires_grad:
                p.add_(torch.randn_like(p) * 0.05)


def _logps(lm, ids):
    """log p(ids[t] | ids[<t]) for t >= 1 with a plain causal LM, by hand."""
    logits = lm(input_ids=ids).logits[0, :-1].float()
    return torch.log_softmax(logits, -1).gather(-1, ids[0, 1:, None])[:, 0]


@pytest.mark.parametrize("lora", [None, LORA])
def test_token_reward_is_beta_times_the_log_ratio_to_the_frozen_backbone(backbone, tokenizer, lora):
    from transformers import AutoModelForCausalLM

    model = TokenRewardModel(backbone, lora=lora, lm_prior=True, implicit_prm_beta=BETA).eval()
    ids = _ids(tokenizer)
    with torch.no_grad():
        assert model(ids, torch.ones_like(ids)).abs().max().item() == 0.0  # p = p_ref before training
    _train_a_little(model)
    reference = AutoModelForCausalLM.from_pretrained(backbone).eval()
    with torch.no_grad():
        got = model(ids, torch.ones_like(ids))
        trained = (
            model.backbone if lora is None else model.backbone.merge_and_unload(safe_merge=True, adapter_names=None)
        )
        expected = BETA * (_logps(trained, ids) - _logps(reference, ids))
    assert got[0, 0].item() == 0.0  # position 0 has no prediction
    torch.testing.assert_close(got[0, 1:], expected, rtol=1e-4, atol=1e-6)
    assert got[0, 1:].abs().max().item() > 1e-4  # the check above is not 0 == 0


def test_the_sequence_score_is_the_sum_and_only_the_backbone_trains(backbone):
    model = TokenRewardModel(backbone, lm_prior=True, implicit_prm_beta=BETA)
    logits = torch.tensor([[9.0, 1.0, -2.0, 0.5], [9.0, 3.0, 0.0, 0.0]])
    mask = torch.tensor([[0, 1, 1, 1], [0, 1, 0, 0]])
    # beta log p(y)/p_ref(y) = the sum of the token rewards (not their mean, whatever the mode)
    assert model.sequence_scores(logits, mask).tolist() == [-0.5, 3.0]
    assert model.sequence_scores(logits, mask, mode="sparse").tolist() == [-0.5, 3.0]
    model.train()
    assert not model.reference.training  # no dropout in p_ref
    assert not any(p.requires_grad for p in model.reference.parameters())
    assert not any(p.requires_grad for p in model.head.parameters())
    assert any(p.requires_grad for p in model.backbone.parameters())
    assert not can_share_prompts(model)  # p_ref would need its own prompt cache
    with pytest.raises(ValueError, match="whole rows"):
        model(torch.tensor([[1, 2]]), past_key_values=object())


@pytest.mark.parametrize(
    "kwargs", [{"implicit_prm_beta": BETA}, {"implicit_prm_beta": 0.0, "lm_prior": True}], ids=["no_lm_prior", "beta0"]
)
def test_an_implicit_reward_needs_the_lm_head_and_a_positive_beta(backbone, kwargs):
    with pytest.raises(ConfigError, match="implicit process reward needs lm_prior"):
        TokenRewardModel(backbone, **kwargs)


@pytest.mark.parametrize("lora", [None, LORA])
def test_a_saved_implicit_reward_reloads_its_reference_from_the_backbone(backbone, tokenizer, lora, tmp_path):
    model = TokenRewardModel(backbone, lora=lora, lm_prior=True, implicit_prm_beta=BETA).eval()
    _train_a_little(model)
    out = model.save(tmp_path / "rm", tokenizer)
    meta = json.loads((out / META_FILE).read_text())
    assert meta["implicit_prm_beta"] == BETA and meta["backbone"] == str(backbone)
    loaded, _ = load_reward_model(out)
    ids = _ids(tokenizer)
    with torch.no_grad():
        torch.testing.assert_close(loaded.eval()(ids, torch.ones_like(ids)), model(ids, torch.ones_like(ids)))
    # resuming into a model of another kind is refused by name
    with pytest.raises(ConfigError, match="implicit_prm_beta"):
        load_reward_weights(TokenRewardModel(backbone, lora=lora, lm_prior=True), out)


def test_a_saved_implicit_reward_without_its_backbone_is_one_line(backbone, tokenizer, tmp_path):
    moved = tmp_path / "backbone"
    shutil.copytree(backbone, moved)
    model = TokenRewardModel(str(moved), lm_prior=True, implicit_prm_beta=BETA)
    out = model.save(tmp_path / "rm", tokenizer)
    shutil.rmtree(moved)
    with pytest.raises(ConfigError, match="its backbone .* cannot be loaded"):
        load_reward_model(out)
