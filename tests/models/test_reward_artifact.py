"""A saved reward model is a standard transformers / PEFT checkpoint (loadable from any directory), old folders
still load, and the scoring API's per-step rewards are sums of its per-token rewards."""

from __future__ import annotations

import json
import shutil

import pytest
import torch
from safetensors.torch import save_file

from reasoning_irl.config import ConfigError
from reasoning_irl.data.prompts import render_prompt
from reasoning_irl.models import ensure_tiny_model
from reasoning_irl.models.api import RewardModel, line_spans, step_token_ranges
from reasoning_irl.models.config import LoraSettings
from reasoning_irl.models.reward_model import HEAD_FILE, META_FILE, TokenRewardModel, load_reward_model

LORA = LoraSettings(r=4, alpha=8, dropout=0.0, target_modules=["q_proj", "v_proj"])
QUESTION = "What is 3 + 4, doubled?"
SOLUTION = "<think>\n3 + 4 = 7\n7 * 2 = 14\n</think>\n<answer>\n14\n</answer>"


@pytest.fixture(scope="module")
def backbone(tmp_path_factory):
    return str(ensure_tiny_model(tmp_path_factory.mktemp("rm") / "tiny-llama-reward", arch="llama", preset="reward"))


def _trained_like(model):
    """Random non-zero LoRA B and head, so adapter and head both change the scores."""
    torch.manual_seed(3)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_B" in name or name.startswith("head."):
                p.normal_(0, 0.5)
    return model.eval()


def _saved(backbone, tmp_path, monkeypatch, lora, lm_prior=False):
    """Save from a directory where the backbone is a relative path, then move to another directory."""
    from transformers import AutoTokenizer

    shutil.copytree(backbone, tmp_path / "bb")
    (tmp_path / "train").mkdir()
    shutil.move(str(tmp_path / "bb"), tmp_path / "train" / "bb")
    monkeypatch.chdir(tmp_path / "train")
    model = _trained_like(TokenRewardModel("bb", lora=lora, lm_prior=lm_prior))
    model.prompt = {"system_prompt": "Solve it.", "no_system": False}
    model.save("rm", AutoTokenizer.from_pretrained("bb"))
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    return model, tmp_path / "train" / "rm"


def _full_ids(tokenizer, messages):
    prompt = tokenizer(render_prompt(tokenizer, messages), add_special_tokens=False)["input_ids"]
    completion = tokenizer(SOLUTION, add_special_tokens=False)["input_ids"]
    return torch.tensor([prompt + completion]), len(prompt)


@pytest.mark.parametrize("lora", [None, LORA])
def test_plain_transformers_loads_it_from_another_directory(backbone, tmp_path, monkeypatch, lora):
    from peft import AutoPeftModelForTokenClassification
    from transformers import AutoModelForTokenClassification, AutoTokenizer

    _, folder = _saved(backbone, tmp_path, monkeypatch, lora)
    ours, tokenizer = load_reward_model(folder)
    if lora:  # the backbone's own config says nothing of the head's width: num_labels=1 is passed
        plain = AutoPeftModelForTokenClassification.from_pretrained(str(folder), num_labels=1).eval()
    else:
        plain = AutoModelForTokenClassification.from_pretrained(str(folder)).eval()
    plain_tok = AutoTokenizer.from_pretrained(str(folder))
    assert plain_tok.chat_template == tokenizer.chat_template  # the training chat template travels with it
    api = RewardModel.from_pretrained(folder)
    messages = api.messages(QUESTION)
    assert messages[0] == {"role": "system", "content": "Solve it."}
    ids, start = _full_ids(plain_tok, messages)
    with torch.no_grad():
        expected = ours.eval()(ids, torch.ones_like(ids))
        got = plain(input_ids=ids, attention_mask=torch.ones_like(ids)).logits[..., 0]
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)
    assert expected[0, start:].abs().max() > 0.1  # a trained-like model: the comparison is not of zeros
    torch.testing.assert_close(
        torch.tensor(api.score(QUESTION, SOLUTION).token_rewards), expected[0, start:], atol=1e-4, rtol=1e-4
    )


def test_lm_prior_loads_as_causal_lm_plus_saved_head(backbone, tmp_path, monkeypatch):
    from peft import AutoPeftModelForCausalLM
    from safetensors.torch import load_file

    from reasoning_irl.models.reward_model import next_token_logps

    _, folder = _saved(backbone, tmp_path, monkeypatch, LORA, lm_prior=True)
    meta = json.loads((folder / META_FILE).read_text())
    assert meta["transformers"]["includes_head"] is False
    ours, tokenizer = load_reward_model(folder)
    plain = AutoPeftModelForCausalLM.from_pretrained(str(folder)).eval()
    head = load_file(str(folder / HEAD_FILE))
    ids, _ = _full_ids(tokenizer, [{"role": "user", "content": QUESTION}])
    with torch.no_grad():
        out = plain(input_ids=ids, output_hidden_states=True)
        by_hand = out.hidden_states[-1] @ head["weight"].T + head["bias"]
        by_hand = by_hand[..., 0] + next_token_logps(out.logits, ids)
        torch.testing.assert_close(by_hand, ours.eval()(ids, torch.ones_like(ids)), atol=1e-5, rtol=1e-5)


def test_a_folder_of_the_old_layout_still_loads(backbone, tmp_path, monkeypatch):
    import huggingface_hub.constants

    # "bb" is not a folder here, so transformers takes it for a hub id: refused at once, not after a connect timeout.
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    model, folder = _saved(backbone, tmp_path, monkeypatch, LORA)
    old = tmp_path / "train" / "old"
    old.mkdir()
    model.backbone.save_pretrained(old / "adapter")
    save_file({k: v.contiguous() for k, v in model.head.state_dict().items()}, old / HEAD_FILE)
    meta = {k: v for k, v in model.metadata().items() if k not in ("version", "backbone_as_given", "prompt")}
    (old / META_FILE).write_text(json.dumps({**meta, "backbone": "bb"}))
    with pytest.raises(ConfigError, match="backbone 'bb' cannot be loaded from here"):
        load_reward_model(old)  # recorded relative to the training directory, read from another one
    monkeypatch.chdir(tmp_path / "train")
    loaded, _ = load_reward_model(old)
    assert loaded.prompt is None
    ids = torch.tensor([[1, 5, 9, 12, 40]])
    with torch.no_grad():
        torch.testing.assert_close(loaded.eval()(ids, torch.ones_like(ids)), model(ids, torch.ones_like(ids)))


def test_step_token_ranges_by_hand():
    tokens = ["3", " +", " 4", "\n", "7", " =", " ", "7", "\n\n", "ok"]
    text = "".join(tokens)
    assert line_spans(text) == [(0, 5), (6, 11), (13, 15)]
    assert step_token_ranges(tokens, line_spans(text)) == [[0, 3], [4, 8], [9, 10]]


def test_step_rewards_are_sums_of_token_rewards(backbone, tmp_path, monkeypatch):
    _, folder = _saved(backbone, tmp_path, monkeypatch, None)
    api = RewardModel.from_pretrained(folder)
    scored = api.score(QUESTION, SOLUTION)
    assert scored.steps == ["<think>", "3 + 4 = 7", "7 * 2 = 14", "</think>", "<answer>", "14", "</answer>"]
    for text, (a, b), reward in zip(scored.steps, scored.step_tokens, scored.step_rewards):
        assert "".join(scored.tokens[a:b]).strip() == text
        assert reward == pytest.approx(sum(scored.token_rewards[a:b]))
    batch = api.score_batch([(QUESTION, SOLUTION), (QUESTION, "3 + 4 = 8\n8 * 2 = 16")])
    assert batch[0].token_rewards == pytest.approx(scored.token_rewards, abs=1e-5)
    assert len(batch[1].step_rewards) == 2
