"""Random-weight models of the kept real architectures (configs/architectures/*.json) through the tiny builder."""

from __future__ import annotations

import json

import pytest
import torch

from reasoning_irl.config import config_dir
from reasoning_irl.models import tiny
from reasoning_irl.models.tokenizer_training import train_tokenizer, training_corpus

# Parameter counts (tied embeddings counted once) of the released checkpoints: the model cards' sizes
# (0.49B, 1.54B, 3.09B, 7.62B; 1.24B, 3.21B, 8.03B) to the last parameter.
RELEASED_PARAMS = {
    "qwen2.5-0.5b": 494_032_768,
    "qwen2.5-1.5b": 1_543_714_304,
    "qwen2.5-3b": 3_085_938_688,
    "qwen2.5-7b": 7_615_616_512,
    "qwen2.5-math-1.5b": 1_543_714_304,
    "llama-3.2-1b": 1_235_814_400,
    "llama-3.2-3b": 3_212_749_824,
    "llama-3.1-8b": 8_030_261_248,
}
ROPE_THETA = {"qwen2.5-math-1.5b": 10_000.0}  # the Math model keeps a 4k context; the other Qwen2.5 1e6, Llama-3 5e5


@pytest.fixture(scope="module")
def tokenizers():
    return {arch: train_tokenizer(arch, training_corpus(None)) for arch in tiny.ARCHES}


def test_kept_architectures_are_the_released_configs():
    assert tiny.kept_architectures() == sorted(RELEASED_PARAMS)
    qwen3b = tiny.architecture_config("qwen2.5-3b")
    assert (qwen3b["hidden_size"], qwen3b["num_hidden_layers"], qwen3b["num_key_value_heads"]) == (2048, 36, 2)
    assert json.loads((config_dir() / "architectures" / "qwen2.5-0.5b.json").read_text())["vocab_size"] == 151936


@pytest.mark.parametrize("name", sorted(RELEASED_PARAMS))
def test_kept_architecture_has_the_released_size_and_the_project_tokens(name, tokenizers):
    arch = tiny.architecture_config(name)["model_type"]
    tokenizer = tokenizers[arch]
    # The meta device builds the full-size module without allocating its weights.
    model = tiny.build_model(arch, name, tokenizer, dtype="bfloat16", device="meta")
    assert tiny.param_count(model) == RELEASED_PARAMS[name]
    released_vocab = tiny.architecture_config(name)["vocab_size"]
    assert model.config.vocab_size == released_vocab > len(tokenizer)  # the LM head costs what the released one does
    theta = ROPE_THETA.get(name, 1_000_000.0 if arch == "qwen2" else 500_000.0)
    assert model.config.rope_parameters["rope_theta"] == theta and model.dtype == torch.bfloat16
    ids = tiny.token_ids(tokenizer, arch)
    assert (model.config.eos_token_id, model.config.pad_token_id) == (ids["eos"], ids["pad"])


def test_kept_architecture_must_match_the_arch(tokenizers):
    tokenizer = tokenizers["qwen2"]
    with pytest.raises(ValueError, match="is a qwen2 architecture, not llama"):
        tiny.build_model("llama", "qwen2.5-3b", tokenizer, device="meta")
    with pytest.raises(ValueError, match="unknown preset 'qwen9'.*qwen2.5-0.5b"):
        tiny.build_model("qwen2", "qwen9", tokenizer, device="meta")
