"""Token reward model: causal token logits, dense/sparse scores, exact save/load round trip."""

from __future__ import annotations

import json

import pytest
import torch

from reasoning_irl.config import ConfigError
from reasoning_irl.models import ensure_tiny_model
from reasoning_irl.models.config import LoraSettings
from reasoning_irl.models.reward_model import (
    META_FILE,
    TokenRewardModel,
    load_reward_model,
    load_reward_weights,
    next_token_logps,
)

LORA = LoraSettings(r=4, alpha=8, dropout=0.0, target_modules=["q_proj", "v_proj"])


@pytest.fixture(scope="module")
def backbone(tmp_path_factory):
    return str(ensure_tiny_model(tmp_path_factory.mktemp("rm") / "tiny-llama-reward", arch="llama", preset="reward"))


@pytest.fixture(scope="module")
def tokenizer(backbone):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(backbone)


def _ids(tokenizer, text="<think>\n3 + 4 = 7\n</think>\n<answer>\n7\n</answer>"):
    return torch.tensor([tokenizer(text)["input_ids"]])


def _perturb_lora(model):
    # A fresh LoRA B matrix is zero; make the adapter matter so the round trip really tests it.
    torch.manual_seed(1)
    with torch.no_grad():
        for name, p in model.backbone.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.5)


@pytest.mark.parametrize("lora", [None, LORA])
def test_token_logits_are_causal(backbone, tokenizer, lora):
    torch.manual_seed(0)
    model = TokenRewardModel(backbone, lora=lora).eval()
    ids = _ids(tokenizer)
    with torch.no_grad():
        base = model(ids, torch.ones_like(ids))
        changed = ids.clone()
        changed[0, 8:] = (changed[0, 8:] + 5) % 500
        after = model(changed, torch.ones_like(ids))
    assert base.shape == ids.shape
    torch.testing.assert_close(after[0, :8], base[0, :8], rtol=0, atol=0)
    assert not torch.allclose(after[0, 8:], base[0, 8:])


def test_right_padding_does_not_change_real_logits(backbone, tokenizer):
    model = TokenRewardModel(backbone).eval()
    ids = _ids(tokenizer)
    n = ids.shape[1]
    padded = torch.cat([ids, torch.full((1, 3), tokenizer.pad_token_id or 0)], 1)
    mask = torch.cat([torch.ones(1, n, dtype=torch.long), torch.zeros(1, 3, dtype=torch.long)], 1)
    with torch.no_grad():
        torch.testing.assert_close(model(padded, mask)[:, :n], model(ids, torch.ones_like(ids)), atol=1e-5, rtol=1e-5)


def test_sequence_scores_dense_and_sparse(backbone):
    model = TokenRewardModel(backbone, mode="sparse")
    logits = torch.tensor([[1.0, 2.0, 3.0, 4.0, 9.0], [5.0, 6.0, 7.0, 8.0, 9.0], [1.0, 1.0, 1.0, 1.0, 1.0]])
    mask = torch.tensor([[0, 1, 1, 1, 0], [0, 0, 0, 0, 1], [0, 0, 0, 0, 0]])
    torch.testing.assert_close(model.sequence_scores(logits, mask, "dense"), torch.tensor([3.0, 9.0, 0.0]))
    torch.testing.assert_close(model.sequence_scores(logits, mask), torch.tensor([4.0, 9.0, 0.0]))  # own mode: sparse


def test_bad_mode_is_an_error(backbone):
    with pytest.raises(ConfigError, match="mode"):
        TokenRewardModel(backbone, mode="both")


@pytest.mark.parametrize("lora", [None, LORA])
def test_save_load_gives_identical_logits(backbone, tokenizer, lora, tmp_path):
    torch.manual_seed(0)
    model = TokenRewardModel(backbone, mode="sparse", lora=lora).eval()
    if lora is not None:
        _perturb_lora(model)
    out = model.save(tmp_path / "rm", tokenizer)
    meta = json.loads((out / META_FILE).read_text())
    assert meta["backbone"] == backbone and meta["mode"] == "sparse" and meta["hidden_size"] == model.hidden_size
    assert (meta["lora"] is None) == (lora is None)
    assert (out / ("adapter_config.json" if lora else "config.json")).is_file()  # a standard checkpoint at the root
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp sibling left behind

    loaded, tok = load_reward_model(out)
    loaded.eval()
    ids = _ids(tokenizer)
    assert tok("3 + 4")["input_ids"] == tokenizer("3 + 4")["input_ids"]
    assert loaded.mode == "sparse" and (loaded.lora is None) == (lora is None)
    with torch.no_grad():
        torch.testing.assert_close(loaded(ids, torch.ones_like(ids)), model(ids, torch.ones_like(ids)), rtol=0, atol=0)


def test_save_overwrites_atomically(backbone, tokenizer, tmp_path):
    first = TokenRewardModel(backbone, lora=LORA)
    first.save(tmp_path / "rm", tokenizer)
    second = TokenRewardModel(backbone)
    second.save(tmp_path / "rm", tokenizer)
    assert json.loads((tmp_path / "rm" / META_FILE).read_text())["lora"] is None
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rm"]


def test_relative_backbone_path_is_recorded_resolved(backbone, tmp_path, monkeypatch):
    import shutil

    shutil.copytree(backbone, tmp_path / "bb")
    monkeypatch.chdir(tmp_path)
    model = TokenRewardModel("bb", lora=LORA)
    model.save("rm")
    meta = json.loads((tmp_path / "rm" / META_FILE).read_text())
    assert meta["backbone"] == str((tmp_path / "bb").resolve()) and meta["backbone_as_given"] == "bb"
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    loaded, _ = load_reward_model("../rm")  # tokenizer falls back to the backbone's
    assert loaded.backbone_name_or_path == str((tmp_path / "bb").resolve())


def test_folder_that_is_not_a_reward_model(backbone, tmp_path):
    with pytest.raises(ConfigError, match="not a saved reward model"):
        load_reward_model(backbone)
    with pytest.raises(ConfigError, match="not a saved reward model"):
        load_reward_model(tmp_path / "missing")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / META_FILE).write_text("{not json")
    with pytest.raises(ConfigError, match="not a saved reward model"):
        load_reward_model(tmp_path / "bad")


def test_next_token_logps_by_hand():
    # Vocabulary of 2: logits (0, 0) give token 0 log 1/2; (log 3, 0) give token 1 log 1/4 (token 0: log 3/4).
    logits = torch.tensor([[[0.0, 0.0], [float(torch.log(torch.tensor(3.0))), 0.0], [5.0, 5.0]]])
    ids = torch.tensor([[1, 0, 1]])
    expected = torch.log(torch.tensor([[1.0, 0.5, 0.25]]))
    expected[0, 0] = 0.0  # position 0 has no prediction
    torch.testing.assert_close(next_token_logps(logits, ids), expected)


@pytest.mark.parametrize("lora", [None, LORA])
def test_lm_prior_starts_as_the_backbone_log_density(backbone, tokenizer, lora):
    from transformers import AutoModelForCausalLM

    model = TokenRewardModel(backbone, lora=lora, lm_prior=True).eval()
    lm = AutoModelForCausalLM.from_pretrained(backbone).eval()
    ids = _ids(tokenizer)
    with torch.no_grad():
        got = model(ids, torch.ones_like(ids))
        logps = torch.log_softmax(lm(input_ids=ids).logits[0, :-1], -1).gather(-1, ids[0, 1:, None])[:, 0]
    assert got[0, 0].item() == 0.0
    torch.testing.assert_close(got[0, 1:], logps, rtol=1e-5, atol=1e-5)
    assert (got[0, 1:] < 0).all()


def test_lm_prior_save_load_and_mismatch(backbone, tokenizer, tmp_path):
    torch.manual_seed(0)
    model = TokenRewardModel(backbone, lora=LORA, lm_prior=True).eval()
    _perturb_lora(model)
    with torch.no_grad():
        model.head.weight.normal_(0, 0.5)
    out = model.save(tmp_path / "rm", tokenizer)
    assert json.loads((out / META_FILE).read_text())["lm_prior"] is True
    loaded, _ = load_reward_model(out)
    ids = _ids(tokenizer)
    with torch.no_grad():
        torch.testing.assert_close(
            loaded.eval()(ids, torch.ones_like(ids)), model(ids, torch.ones_like(ids)), rtol=0, atol=0
        )
    with pytest.raises(ConfigError, match="lm_prior"):
        load_reward_weights(TokenRewardModel(backbone, lora=LORA), out)
    with pytest.raises(ValueError, match="input_ids"):
        model(inputs_embeds=torch.zeros(1, 3, model.hidden_size))
