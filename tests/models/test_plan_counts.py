"""Parameter counts from a config on the meta device: the same as the built model's, and the published sizes."""

from __future__ import annotations

import pytest
from torch import nn

from reasoning_irl.config import ConfigError
from reasoning_irl.models import tiny
from reasoning_irl.models.config import LoraSettings, ModelConfig, TinySpec
from reasoning_irl.models.plan import kept_name, model_size
from reasoning_irl.models.tokenizer_training import train_tokenizer, training_corpus


@pytest.fixture(scope="module")
def tokenizers():
    return {arch: train_tokenizer(arch, training_corpus(None)) for arch in tiny.ARCHES}


def lora_by_formula(model: nn.Module, lora: LoraSettings) -> int:
    """r x (in + out) for every Linear whose name is a target: A is r x in, B is out x r."""
    return sum(
        lora.r * (m.in_features + m.out_features)
        for name, m in model.named_modules()
        if isinstance(m, nn.Linear) and name.rsplit(".", 1)[-1] in lora.target_modules
    )


@pytest.mark.parametrize("arch", tiny.ARCHES)
@pytest.mark.parametrize("preset", ["policy", "reward"])
def test_tiny_counts_equal_the_built_model(arch, preset, tokenizers, tmp_path):
    built = tiny.build_model(arch, preset, tokenizers[arch])  # real weights, on the CPU
    lora = LoraSettings(r=8)
    cfg = ModelConfig(name_or_path=str(tmp_path / "not-built"), tiny=TinySpec(arch=arch, preset=preset), lora=lora)
    size = model_size(cfg, "model")
    assert size.params == tiny.param_count(built) and size.lora == lora_by_formula(built, lora)
    assert all(t.added and not t.embedding for t in size.tensors) and sum(t.numel for t in size.tensors) == size.lora
    assert size.source.startswith(f"tiny {arch}/{preset}") and not (tmp_path / "not-built").exists()
    # the reward model: the backbone without its LM head (tied: no parameter of its own) plus Linear(hidden, 1)
    reward = model_size(cfg, "reward_model", reward_head=True)
    assert (reward.params, reward.head) == (tiny.param_count(built.model), built.config.hidden_size + 1)
    # the optimizer sees the adapters and the head's weight and bias, one tensor each
    assert [t.numel for t in reward.tensors[-2:]] == [built.config.hidden_size, 1]
    assert sum(t.numel for t in reward.tensors) == reward.lora + reward.head


def test_a_built_folder_is_read_from_its_config(tmp_path):
    folder = tiny.build_tiny_model(tmp_path / "tiny", arch="llama", preset="reward")
    from transformers import AutoModelForCausalLM

    real = AutoModelForCausalLM.from_pretrained(folder)
    size = model_size(ModelConfig(name_or_path=str(folder), lora=None), "model")
    assert (size.params, size.lora, size.source) == (tiny.param_count(real), 0, str(folder))
    assert size.trainable == size.params  # no adapters: the whole model trains
    # every weight is an optimizer tensor, the (tied) embedding once and marked as one
    assert sum(t.numel for t in size.tensors) == size.params and not any(t.added for t in size.tensors)
    assert [t.numel for t in size.tensors if t.embedding] == [real.get_input_embeddings().weight.numel()]


@pytest.mark.parametrize(
    "hub_id, params, billions",
    [("Qwen/Qwen2.5-3B-Instruct", 3_085_938_688, 3.09), ("Qwen/Qwen2.5-0.5B-Instruct", 494_032_768, 0.49)],
)
def test_real_architectures_have_their_published_size(hub_id, params, billions):
    size = model_size(ModelConfig(name_or_path=hub_id, lora=LoraSettings(r=128, alpha=128)), "model")
    assert size.params == params and round(size.params / 1e9, 2) == billions
    kept = tiny.architecture_config(kept_name(hub_id))
    h, layers, inter = kept["hidden_size"], kept["num_hidden_layers"], kept["intermediate_size"]
    kv = kept["num_key_value_heads"] * h // kept["num_attention_heads"]
    # q, o: h -> h; k, v: h -> kv; gate, up: h -> I; down: I -> h
    per_layer = 128 * (2 * (h + h) + 2 * (h + kv) + 3 * (h + inter))
    assert size.lora == layers * per_layer and size.kv_dim == kv and size.lora_modules == 7
    # 7 adapted modules, an A and a B each, per layer; the smallest is k's (or v's) B: kv x 128
    assert len(size.tensors) == layers * 14 and min(t.numel for t in size.tensors) == kv * 128


def test_the_math_model_and_the_llamas_resolve_by_hub_id():
    assert kept_name("Qwen/Qwen2.5-Math-1.5B") == "qwen2.5-math-1.5b"
    assert kept_name("meta-llama/Llama-3.1-8B-Instruct") == "llama-3.1-8b"
    assert round(model_size(ModelConfig(name_or_path="meta-llama/Llama-3.2-1B-Instruct"), "m").params / 1e9, 2) == 1.24


def test_a_model_neither_kept_nor_local_is_refused_in_one_line():
    with pytest.raises(ConfigError) as err:
        model_size(ModelConfig(name_or_path="someone/Mystery-7B-Instruct"), "reward_model")
    message = str(err.value)
    assert "\n" not in message and message.startswith("reward_model.name_or_path: no architecture for")
    assert "qwen2.5-3b" in message and "never downloads" in message
