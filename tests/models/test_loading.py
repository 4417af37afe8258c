"""Policy loading: backend and dtype choice, clear config errors, LoRA targets, and reloading a saved adapter."""

from __future__ import annotations

import pytest
import torch

from reasoning_irl.composition import compose
from reasoning_irl.config import ConfigError
from reasoning_irl.models import ensure_tiny_model, loading
from reasoning_irl.models.config import LoraSettings, ModelConfig
from reasoning_irl.models.loading import load_policy, resolve_backend, resolve_dtype, resolve_model_path


@pytest.fixture
def cpu_only(monkeypatch):
    """Behave as on a machine without CUDA, whatever this one has."""
    monkeypatch.setattr(loading, "cuda_available", lambda: False)


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory):
    root = tmp_path_factory.mktemp("artifacts")
    ensure_tiny_model(root / "tiny-qwen2-policy", arch="qwen2", preset="policy")
    return root


@pytest.fixture(scope="module")
def tiny_path(artifacts) -> str:
    return str(artifacts / "tiny-qwen2-policy")


def test_unsloth_is_a_clear_error(cpu_only):
    with pytest.raises(ConfigError, match="model.backend=unsloth is not supported"):
        resolve_backend("unsloth")


def test_auto_backend_is_hf_on_cpu(cpu_only):
    assert resolve_backend("auto") == "hf"
    assert resolve_backend("hf") == "hf"


def test_dtype_auto_is_float32_on_cpu(cpu_only):
    assert resolve_dtype("auto") is torch.float32
    assert resolve_dtype("bfloat16") is torch.bfloat16


@pytest.mark.parametrize("name", ["missing-model", "./missing-model"])
def test_missing_local_model_is_named(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = str(tmp_path / name) if name.startswith("missing") else name
    with pytest.raises(ConfigError, match="missing-model"):
        resolve_model_path(ModelConfig(name_or_path=path))
    with pytest.raises(ConfigError, match="model.name_or_path: .*missing-model"):
        load_policy(ModelConfig(name_or_path=path))


def test_4bit_on_cpu_is_refused(cpu_only, tiny_path):
    with pytest.raises(ConfigError, match="load_in_4bit needs a CUDA GPU"):
        load_policy(ModelConfig(name_or_path=tiny_path, load_in_4bit=True))


def test_loads_float32_lora_model(cpu_only, tiny_path):
    model, tokenizer = load_policy(ModelConfig(name_or_path=tiny_path, lora=LoraSettings(r=4, alpha=8)))
    assert next(model.parameters()).dtype is torch.float32
    assert tokenizer.pad_token is not None
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable and all("lora_" in n for n in trainable)


def test_lora_targets_are_filtered_to_present_modules(tiny_path):
    lora = LoraSettings(r=4, alpha=8, target_modules=["q_proj", "not_a_module"])
    model, _ = load_policy(ModelConfig(name_or_path=tiny_path, lora=lora))
    assert model.peft_config["default"].target_modules == {"q_proj"}
    wrapped = {
        n.split(".")[-4] for n, _ in model.named_parameters() if "lora_A" in n
    }  # ...q_proj.lora_A.default.weight
    assert wrapped == {"q_proj"}
    with pytest.raises(ConfigError, match=r"target_modules \['nope'\] match no module"):
        load_policy(ModelConfig(name_or_path=tiny_path, lora=LoraSettings(target_modules=["nope"])))


@pytest.fixture(scope="module")
def sft_final(artifacts, tmp_path_factory):
    """A 3-step SFT run's final/ adapter, and the logits of the model that saved it on fixed input ids."""
    from reasoning_irl.training.sft import run_sft
    from reasoning_irl.training.trl_adapter import ReasoningSFTTrainer

    ids = torch.arange(10, 40).reshape(2, 15)
    seen = {}
    real = ReasoningSFTTrainer.save_final

    def spy(self, run_dir):
        self.model.eval()
        with torch.no_grad():
            seen["logits"] = self.model(input_ids=ids).logits.clone()
        return real(self, run_dir)

    cfg = compose(
        "sft",
        [
            "experiment=tiny_sft",
            f"output_root={tmp_path_factory.mktemp('runs')}",
            f"artifacts_dir={artifacts}",
            "dataset.num_train=20",
            "method.max_length=160",
            "training.per_device_batch_size=4",
            "training.max_steps=3",
            "training.learning_rate=1e-2",
            "training.logging_steps=1",
            "model.lora.r=4",
            "model.lora.alpha=8",
        ],
    )
    threads = torch.get_num_threads()
    # One thread: tiny matrices gain nothing from two, and two spinning threads crawl on a busy 2-core machine.
    torch.set_num_threads(1)
    try:
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(ReasoningSFTTrainer, "save_final", spy)
            run_dir = run_sft(cfg)
    finally:
        torch.set_num_threads(threads)
    return run_dir / "final", ids, seen["logits"]


def test_init_adapter_reproduces_the_saved_model(sft_final, tiny_path):
    final, ids, expected = sft_final
    model, _ = load_policy(ModelConfig(name_or_path=tiny_path, init_adapter=str(final)))
    model.eval()
    with torch.no_grad():
        got = model(input_ids=ids).logits
        base = model.get_base_model()
        with model.disable_adapter():
            untrained = base(input_ids=ids).logits
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-5)
    assert (got - untrained).abs().max() > 1e-3  # the adapter is not a no-op, so the match means something
    # The adapter comes back trainable: GRPO continues from an SFT adapter.
    assert any(p.requires_grad for n, p in model.named_parameters() if "lora_" in n)


def test_missing_init_adapter_is_named(tiny_path, tmp_path):
    with pytest.raises(ConfigError, match="model.init_adapter: .*no-adapter"):
        load_policy(ModelConfig(name_or_path=tiny_path, init_adapter=str(tmp_path / "no-adapter")))
