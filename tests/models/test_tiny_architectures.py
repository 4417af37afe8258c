"""Random-weight models of the kept real architectures (configs/architectures/*.json) through the tiny builder."""

from __future__ import annotations

import json

import pytest
import torch

from reasoning_irl.config import config_dir
from reasoning_irl.models import tiny
from reasoning_irl.models.tokenizer_training import train_tokenizer, training_corpus

# Published parameter counts (tied embeddings counted once) of the released checkpoints.
RELEASED_PARAMS = {"qwen2.5-3b": 3_085_938_688, "qwen2.5-0.5b": 494_032_768}


@pytest.fixture(scope="module")
def tokenizer():
    return train_tokenizer("qwen2", training_corpus(None))


def test_kept_architectures_are_the_released_configs():
    assert tiny.kept_architectures() == sorted(RELEASED_PARAMS)
    qwen3b = tiny.architecture_config("qwen2.5-3b")
    assert (qwen3b["hidden_size"], qwen3b["num_hidden_layers"], qwen3b["num_key_value_heads"]) == (2048, 36, 2)
    assert json.loads((config_dir() / "architectures" / "qwen2.5-0.5b.json").read_text())["vocab_size"] == 151936


@pytest.mark.parametrize("name", sorted(RELEASED_PARAMS))
def test_kept_architecture_has_the_released_size_and_the_project_tokens(name, tokenizer):
    # The meta device builds the full-size module without allocating its weights.
    model = tiny.build_model("qwen2", name, tokenizer, dtype="bfloat16", device="meta")
    assert tiny.param_count(model) == RELEASED_PARAMS[name]
    assert model.config.vocab_size == 151936 > len(tokenizer)  # the LM head costs what the released one does
    assert model.config.rope_parameters["rope_theta"] == 1_000_000.0 and model.dtype == torch.bfloat16
    ids = tiny.token_ids(tokenizer, "qwen2")
    assert (model.config.eos_token_id, model.config.pad_token_id) == (ids["eos"], ids["pad"])


def test_kept_architecture_must_match_the_arch(tokenizer):
    with pytest.raises(ValueError, match="is a qwen2 architecture, not llama"):
        tiny.build_model("llama", "qwen2.5-3b", tokenizer, device="meta")
    with pytest.raises(ValueError, match="unknown preset 'qwen9'.*qwen2.5-0.5b"):
        tiny.build_model("qwen2", "qwen9", tokenizer, device="meta")
