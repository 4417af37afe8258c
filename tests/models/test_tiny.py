"""Tiny checkpoints: exact reload through the Auto classes, chat-template relation, presets, atomic builds."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch
from tokenizers import Tokenizer
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedModel

from reasoning_irl.data.schema import DEFAULT_SYSTEM_PROMPT
from reasoning_irl.models import ARCHES, END_OF_TURN, PRESETS, build_tiny_model, ensure_tiny_model, tiny
from reasoning_irl.models.tokenizer_training import SPECIAL_TOKENS, new_backend, train_tokenizer, training_corpus

COMPLETION = "<think>\n12 + 5 = 17\n17 * 3 = 51\n</think>\n<answer>\n51\n</answer>"
PROMPTS = {
    "system+user": [
        {"role": "system", "content": DEFAULT_SYSTEM_PROMPT},
        {"role": "user", "content": "Tom has 12 apples. He gets 5 more apples. How many apples?"},
    ],
    "user only": [{"role": "user", "content": "What is 1234 + 5678?"}],
}
TEXTS = [
    "1234",
    " 1234",
    "x=1234.",
    "Natalia sold 48/2 = 24 clips in May.\n#### 72",
    COMPLETION,
    "<think>",
    "</think>",
    "<answer>",
    "</answer>",
    "  two  spaces\n\n\ttab",
    "café naïve – “quotes” 3.5% $12",
    "",
]


@pytest.fixture(scope="module")
def built(tmp_path_factory, shared_data):
    """One folder per (arch, preset); the qwen2 tokenizer also learns from GSM8K."""
    root = tmp_path_factory.mktemp("tiny")
    gsm8k = {"qwen2": shared_data / "gsm8k", "llama": None}
    paths = {}
    for arch in ARCHES:
        for preset in PRESETS:
            paths[arch, preset] = build_tiny_model(
                root / f"{arch}-{preset}", arch, preset, seed=0, gsm8k_path=gsm8k[arch]
            )
    return {"paths": paths, "gsm8k": gsm8k}


@pytest.fixture(scope="module")
def tokenizers_(built):
    """(in-memory tokenizer trained the same way, tokenizer reloaded by AutoTokenizer) per arch."""
    out = {}
    for arch in ARCHES:
        fresh = train_tokenizer(arch, training_corpus(built["gsm8k"][arch]))
        out[arch] = fresh, AutoTokenizer.from_pretrained(built["paths"][arch, "policy"])
    return out


@pytest.mark.parametrize("arch", ARCHES)
def test_reload_gives_identical_token_ids(arch, built, tokenizers_):
    fresh, loaded = tokenizers_[arch]
    raw = Tokenizer.from_file(str(built["paths"][arch, "policy"] / "tokenizer.json"))
    expected_class = {"qwen2": "Qwen2Tokenizer", "llama": "TokenizersBackend"}[arch]
    assert type(loaded).__name__ == expected_class  # the class a real checkpoint of this arch gets
    rendered = [loaded.apply_chat_template(m, tokenize=False, add_generation_prompt=True) for m in PROMPTS.values()]
    for text in TEXTS + rendered:
        ids = loaded(text).input_ids
        assert ids == fresh(text).input_ids, text
        assert ids == raw.encode(text).ids, text  # Qwen2Tokenizer's rebuilt pipeline == the saved json
    assert loaded.get_vocab() == fresh.get_vocab()
    assert len(loaded) == len(fresh)


@pytest.mark.parametrize("arch", ARCHES)
def test_trained_with_the_pipeline_it_reloads_with(arch, tokenizers_):
    """Merges learned under another pre-tokenizer would be dead weight (or change ids) after reload."""
    _, loaded = tokenizers_[arch]
    trained, reloaded = json.loads(new_backend(arch).to_str()), json.loads(loaded.backend_tokenizer.to_str())
    for part in ("normalizer", "pre_tokenizer", "decoder"):
        assert trained[part] == reloaded[part], part
    assert trained["model"]["ignore_merges"] == reloaded["model"]["ignore_merges"]


@pytest.mark.parametrize("arch", ARCHES)
def test_digits_are_single_tokens(arch, tokenizers_):
    _, tok = tokenizers_[arch]
    for text in ["1234", " 1234", "x=1234."]:
        pieces = [tok.decode([i]) for i in tok(text, add_special_tokens=False).input_ids]
        assert [p for p in pieces if p.strip().isdigit()] == ["1", "2", "3", "4"], pieces
    prompt = tok.apply_chat_template(PROMPTS["user only"], tokenize=False, add_generation_prompt=True)
    digit_tokens = [tok.decode([i]) for i in tok(prompt).input_ids if tok.decode([i]).strip().isdigit()]
    assert all(len(d.strip()) == 1 for d in digit_tokens) and len(digit_tokens) == 8


@pytest.mark.parametrize("arch", ARCHES)
def test_round_trip_and_special_tokens(arch, tokenizers_):
    _, tok = tokenizers_[arch]
    for text in TEXTS:  # NFC strings: qwen2 normalises to NFC, so only those round-trip byte-exactly
        assert tok.decode(tok(text, add_special_tokens=False).input_ids) == text
    for marker in SPECIAL_TOKENS[arch]:
        assert tok(marker, add_special_tokens=False).input_ids == [tok.convert_tokens_to_ids(marker)]
    # pad != eos: masking pad out of the loss must not also hide the end-of-turn token.
    assert tok.pad_token_id is not None and tok.eos_token_id is not None
    assert tok.pad_token_id != tok.eos_token_id
    assert tok.eos_token == END_OF_TURN[arch].strip()
    if arch == "llama":  # Llama-3 style: the post-processor prepends BOS; chat tokenization has exactly one
        assert tok("hi").input_ids[0] == tok.bos_token_id
        ids = tok.apply_chat_template(PROMPTS["user only"], add_generation_prompt=True, return_dict=True)["input_ids"]
        assert ids.count(tok.bos_token_id) == 1 and ids[0] == tok.bos_token_id
    else:  # Qwen2 has no BOS
        assert tok.bos_token is None and tok("hi").input_ids == tok("hi", add_special_tokens=False).input_ids


@pytest.mark.parametrize("arch", ARCHES)
@pytest.mark.parametrize("prompt", list(PROMPTS))
def test_chat_template_prompt_plus_completion_is_conversation(arch, prompt, tokenizers_):
    _, tok = tokenizers_[arch]
    messages = PROMPTS[prompt]
    head = tok.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    full = tok.apply_chat_template([*messages, {"role": "assistant", "content": COMPLETION}], tokenize=False)
    assert head + COMPLETION + END_OF_TURN[arch] == full
    # the same holds token by token, so prompt ids + completion ids are a prefix of the conversation ids
    enc = lambda s: tok(s, add_special_tokens=False).input_ids  # noqa: E731
    assert enc(head) + enc(COMPLETION) + enc(END_OF_TURN[arch]) == enc(full)
    # {% generation %} marks exactly the completion and its end-of-turn marker (TRL assistant-only loss)
    out = tok.apply_chat_template(
        [*messages, {"role": "assistant", "content": COMPLETION}], return_dict=True, return_assistant_tokens_mask=True
    )
    marked = [i for i, m in zip(out["input_ids"], out["assistant_masks"]) if m]
    assert tok.decode(marked) == COMPLETION + tok.eos_token


@pytest.mark.parametrize("arch", ARCHES)
@pytest.mark.parametrize("preset", list(PRESETS))
def test_reload_gives_identical_logits(arch, preset, built, tokenizers_):
    fresh_tok, tok = tokenizers_[arch]
    path = built["paths"][arch, preset]
    in_memory = tiny.build_model(arch, preset, fresh_tok, seed=0)
    loaded = AutoModelForCausalLM.from_pretrained(path).eval()
    assert type(loaded) is type(in_memory)
    assert loaded.dtype == torch.float32
    text = tok.apply_chat_template(PROMPTS["system+user"], tokenize=False, add_generation_prompt=True)
    batch = tok([text + COMPLETION, "1234 + 5"], return_tensors="pt", padding=True, add_special_tokens=False)
    with torch.no_grad():
        assert torch.equal(in_memory(**batch).logits, loaded(**batch).logits)
    for cfg in (loaded.config, loaded.generation_config):
        assert cfg.eos_token_id == tok.eos_token_id and cfg.pad_token_id == tok.pad_token_id
        assert cfg.bos_token_id == (tok.bos_token_id if arch == "llama" else tok.convert_tokens_to_ids("<|endoftext|>"))
    assert loaded.config.vocab_size == len(tok)
    assert loaded.config.tie_word_embeddings and loaded.config.max_position_embeddings == 1024


def test_presets_sizes_vocab_and_seeds(built, tokenizers_):
    counts = {}
    for (arch, preset), path in built["paths"].items():
        info = json.loads((path / tiny.BUILD_INFO).read_text())
        counts[arch, preset] = info["params"]
        assert info["vocab_size"] == len(tokenizers_[arch][1])
    for arch in ARCHES:
        assert 600_000 <= counts[arch, "policy"] <= 1_200_000
        assert counts[arch, "reward"] < counts[arch, "policy"] / 3
        # policy and reward of one arch share a vocabulary (the AIRL reward scores policy tokens)
        policy, reward = (AutoTokenizer.from_pretrained(built["paths"][arch, p]) for p in PRESETS)
        assert policy.get_vocab() == reward.get_vocab()
    assert len(tokenizers_["qwen2"][1]) == 600  # GSM8K text fills the target vocabulary
    assert 400 < len(tokenizers_["llama"][1]) <= 600  # the synthetic task alone saturates below it
    tok = tokenizers_["qwen2"][0]
    a, b, c = (tiny.build_model("qwen2", "reward", tok, seed=s).state_dict() for s in (1, 1, 2))
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)


def test_ensure_does_not_rebuild(tmp_path):
    out = ensure_tiny_model(tmp_path / "m", "llama", "reward")
    weights = out / "model.safetensors"
    os.utime(weights, (1, 1))
    assert ensure_tiny_model(out, "llama", "reward", seed=5) == out
    assert weights.stat().st_mtime == 1
    (tmp_path / "empty").mkdir()  # a folder without config.json is not a model: it is built
    assert (ensure_tiny_model(tmp_path / "empty", "qwen2", "reward") / "config.json").is_file()


def test_crash_mid_build_leaves_no_model_folder(tmp_path, monkeypatch):
    def crash(self, save_directory, *args, **kwargs):
        Path(save_directory, "model.safetensors").write_bytes(b"half")
        raise KeyboardInterrupt("simulated crash while writing weights")

    monkeypatch.setattr(PreTrainedModel, "save_pretrained", crash)
    with pytest.raises(KeyboardInterrupt):
        build_tiny_model(tmp_path / "m", "qwen2", "reward")
    assert list(tmp_path.iterdir()) == []  # neither the model folder nor a temporary sibling
    monkeypatch.undo()
    good = build_tiny_model(tmp_path / "m", "qwen2", "reward")
    before = sorted(p.name for p in good.iterdir())
    monkeypatch.setattr(PreTrainedModel, "save_pretrained", crash)
    with pytest.raises(KeyboardInterrupt):  # a failed rebuild keeps the previous complete build
        build_tiny_model(good, "qwen2", "reward")
    assert sorted(p.name for p in good.iterdir()) == before
    assert [p.name for p in tmp_path.iterdir()] == ["m"]


def test_cli(tmp_path, capsys):
    assert tiny.main(["--out", str(tmp_path / "m"), "--arch", "llama", "--preset", "reward", "--seed", "3"]) == 0
    line = capsys.readouterr().out
    assert "llama/reward" in line and "parameters" in line and "vocab size" in line
    assert json.loads((tmp_path / "m" / tiny.BUILD_INFO).read_text())["seed"] == 3
    for bad in (["--arch", "gpt2"], ["--preset", "huge"]):
        with pytest.raises(SystemExit) as exc:
            tiny.main(["--out", str(tmp_path / "x"), *bad])
        assert exc.value.code == 2
        assert "invalid choice" in capsys.readouterr().err
    with pytest.raises(ValueError, match="unknown arch"):
        build_tiny_model(tmp_path / "y", "gpt2")


def test_move_into_place_keeps_a_complete_folder_unless_replacing(tmp_path):
    def folder(name, marker):
        path = tmp_path / name
        path.mkdir()
        (path / "config.json").write_text(marker)
        return path

    out = folder("out", "first")
    tiny._move_into_place(folder("late", "second"), out, replace=False)  # a concurrent ensure lost the race
    assert (out / "config.json").read_text() == "first"
    tiny._move_into_place(folder("new", "third"), out, replace=True)
    assert (out / "config.json").read_text() == "third"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["late", "out"]  # the caller removes its own tmp
