"""Every paper preset (configs/experiment/gsm8k_* and medreason_*) builds the one-GPU recipe's objects with the pinned
libraries, without weights or data: TRL's GRPOConfig (GRPO, AIRL) or SFTConfig (SFT), the policy's
``from_pretrained`` arguments, and for AIRL the reward model's backbone loading.

The machine is made to look like a bf16 CUDA GPU (an A100/H100): the project's own questions (``cuda_available``,
``torch.cuda.is_bf16_supported``) and transformers' ``is_torch_bf16_gpu_available``, which TrainingArguments asks
before it accepts bf16=True. Everything else TrainingArguments does runs for real (its device is still the CPU).
The Run is built directly, not by ``check_run``: that would read the data set from the hub.
"""

from __future__ import annotations

import dataclasses
import functools
from pathlib import Path

import pytest
import torch
import transformers.training_args
from omegaconf import OmegaConf
from preset_methods import PAIRS, preset_method

from reasoning_irl.composition import compose
from reasoning_irl.config import config_dir, validate
from reasoning_irl.models import loading
from reasoning_irl.models import reward_model as reward_model_module
from reasoning_irl.training.airl.config import AIRLRunConfig
from reasoning_irl.training.config import GRPORunConfig, SFTRunConfig
from reasoning_irl.training.setup import Run, check_group_batch, check_recipe, grpo_arguments

SCHEMAS = {"sft": SFTRunConfig, "grpo": GRPORunConfig, "airl": AIRLRunConfig}
PRESETS = sorted(
    p.stem for p in (config_dir() / "experiment").glob("*.yaml") if p.stem.startswith(("gsm8k_", "medreason_"))
)


def method_of(preset: str) -> str:
    return preset_method(preset) or "sft"


SAMPLING = [p for p in PRESETS if method_of(p) != "sft"]


@functools.cache
def typed_config(preset: str):
    """(typed run config, resolved dict): composed and validated as the entry script does."""
    resolved = OmegaConf.to_container(compose(method_of(preset), [f"experiment={preset}"]), resolve=True)
    resolved.pop("hydra", None)
    return validate(resolved, SCHEMAS[method_of(preset)], "config"), resolved


def run_of(preset: str, run_dir: Path) -> Run:
    typed, resolved = typed_config(preset)
    return Run(cfg=typed, dataset=None, run_dir=run_dir, resume_checkpoint=None, fingerprint="", resolved=resolved)


@pytest.fixture
def bf16_gpu(monkeypatch):
    monkeypatch.setattr(loading, "cuda_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    # TrainingArguments refuses bf16=True unless this says yes (on CPU it says no); its other checks run for real.
    monkeypatch.setattr(transformers.training_args, "is_torch_bf16_gpu_available", lambda *a, **k: True)


def checkpointing(args) -> bool:
    """Gradient checkpointing under the name this TrainingArguments has (transformers 5.17: gradient_, later:
    activation_)."""
    names = {f.name for f in dataclasses.fields(args)}
    return getattr(
        args, "activation_checkpointing" if "activation_checkpointing" in names else "gradient_checkpointing"
    )


def assert_training_recipe(args, typed) -> None:
    """The keys every paper preset shares (configs/recipe/seed_sft.yaml), as the built TrainingArguments holds them."""
    assert args.optim == "paged_adamw_8bit"  # an OptimizerNames member: the pinned transformers knows the name
    assert (args.adam_beta1, args.adam_beta2, args.weight_decay) == (0.9, 0.99, 0.1)
    assert args.lr_scheduler_type == "cosine"
    assert args.get_warmup_steps(500) == 50  # warm-up over 10% of the seed's 500 steps
    assert args.max_steps == 500
    assert args.gradient_accumulation_steps == typed.training.gradient_accumulation_steps in (2, 4)
    assert args.per_device_train_batch_size == typed.training.per_device_batch_size
    assert args.learning_rate == typed.training.learning_rate
    assert checkpointing(args) is True
    assert args.bf16 is True and not args.fp16 and args.use_cpu is False


def test_every_paper_preset_is_here():
    # two tasks x four policy/discriminator pairs x three methods, the GSM8K discriminator-size sweep's three, and
    # the verifier-free comparison's four methods on GSM8K's four pairs
    assert len(PRESETS) == 2 * 4 * 3 + 3 + 4 * 4 and {method_of(p) for p in PRESETS} == set(SCHEMAS)


@pytest.mark.parametrize("family", [f"gsm8k_{pair}" for pair in PAIRS] + ["real_smollm2"])
def test_verifier_free_presets_are_their_pairs_runs_with_one_reward_changed(family):
    """On GSM8K's four pairs and on the released SmolLM2: the same model, data, samples and updates as the family's
    GRPO (VeriFree, the perplexity reward) or AIRL (RARO, PRIME) preset; only the reward differs, so the comparison
    spends the same budget."""
    grpo, _ = typed_config(f"{family}_grpo")
    airl, _ = typed_config(f"{family}_airl")
    verifree, _ = typed_config(f"{family}_verifree")
    perplexity, _ = typed_config(f"{family}_perplexity")
    raro, _ = typed_config(f"{family}_relativistic")
    prime, _ = typed_config(f"{family}_prime")
    assert (verifree.method.reward_source, verifree.method.loss_type) == ("verifree", "dr_grpo")
    assert perplexity.method.reward_source == "perplexity"
    assert perplexity.method.reference_lm == grpo.model.name_or_path  # the released model, frozen
    assert raro.method.disc_loss == "relativistic"
    assert (prime.method.reward_labels, prime.method.implicit_prm_beta) == ("outcomes", 0.05)
    assert (prime.method.advantage, prime.method.outcome_reward_weight) == ("prime", 1.0)
    assert prime.reward_model == airl.reward_model  # the same reward backbone, trained from the grader instead

    def budget(c):
        return c.model, c.dataset, c.sampling, c.training

    for run, base in ((verifree, grpo), (perplexity, grpo), (raro, airl), (prime, airl)):
        assert budget(run) == budget(base)


@pytest.mark.parametrize("preset", SAMPLING)
def test_grpo_config_carries_the_one_gpu_recipe(preset, bf16_gpu, tmp_path):
    from trl import GRPOConfig

    typed, _ = typed_config(preset)
    check_recipe(typed, on_this_machine=False)  # plan=true's check: no 4-bit with vLLM, no unsloth, bf16 reward model
    check_group_batch(typed)
    args = grpo_arguments(run_of(preset, tmp_path), GRPOConfig)
    assert isinstance(args, GRPOConfig)
    assert_training_recipe(args, typed)
    assert args.use_vllm is True and args.vllm_mode == "colocate"
    assert args.vllm_gpu_memory_utilization == 0.3
    assert args.vllm_max_model_length == typed.sampling.max_prompt_length + typed.sampling.max_completion_length == 1124
    assert (args.num_generations, args.max_completion_length) == (16, 824)
    assert (args.temperature, args.top_p) == (1.0, 0.95)
    assert args.generation_kwargs is None  # no preset sets min_completion_length (tests/models/test_vllm_keywords.py)
    assert (args.beta, args.loss_type) == (typed.method.beta, typed.method.loss_type)
    # TRL generates one optimizer step's micro-batches at once (2 x 16, 2 x 32 or 4 x 16 completions), whole groups.
    steps = typed.training.gradient_accumulation_steps
    assert args.steps_per_generation == steps
    assert args.generation_batch_size == steps * typed.training.per_device_batch_size
    assert args.generation_batch_size % args.num_generations == 0


@pytest.mark.parametrize("preset", [p for p in PRESETS if method_of(p) == "sft"])
def test_sft_config_carries_the_recipe(preset, bf16_gpu, tmp_path):
    from trl import SFTConfig

    from reasoning_irl.training.sft import sft_arguments

    typed, _ = typed_config(preset)
    check_recipe(typed, on_this_machine=False)
    args = sft_arguments(run_of(preset, tmp_path), SFTConfig)
    assert_training_recipe(args, typed)
    assert args.max_length == 1124 and args.completion_only_loss is True  # 300 prompt + 824 completion tokens


@pytest.mark.parametrize("preset", PRESETS)
def test_policy_loads_in_bf16_with_lora(preset, bf16_gpu):
    typed, _ = typed_config(preset)
    model = typed.model
    # No quantization_config (bf16, not 4-bit) and no device_map (the Trainer places the model).
    assert loading.policy_load_kwargs(model) == {"dtype": torch.bfloat16}
    assert loading.resolve_backend(model.backend) == "hf"
    assert model.lora.r == 128 and model.init_adapter is None and model.gradient_checkpointing


@pytest.mark.parametrize("preset", [p for p in PRESETS if method_of(p) == "airl"])
def test_reward_model_loads_in_bf16_with_lora(preset, bf16_gpu, monkeypatch):
    """``build_reward_model`` as AIRL runs it, the hub download replaced by a tiny model of the backbone's
    architecture built from a config: what reaches ``from_pretrained``, and the LoRA the real peft puts on it."""
    from transformers import AutoModel, AutoModelForCausalLM, LlamaConfig, Qwen2Config

    from reasoning_irl.training.airl import run as airl_run

    typed, _ = typed_config(preset)
    calls = []

    class Backbone:
        @staticmethod
        def from_pretrained(path, **kwargs):
            calls.append((path, kwargs))
            config_cls = LlamaConfig if "llama" in path.lower() else Qwen2Config
            tiny = config_cls(
                hidden_size=16,
                intermediate_size=32,
                num_hidden_layers=1,
                num_attention_heads=2,
                num_key_value_heads=1,
                vocab_size=64,
            )
            return real_class.from_config(tiny, dtype=kwargs.get("dtype"))

    real_class = reward_model_module.backbone_class(typed.method.reward_lm_prior)
    assert real_class is (AutoModelForCausalLM if typed.method.reward_lm_prior else AutoModel)
    monkeypatch.setattr(reward_model_module, "backbone_class", lambda lm_prior: Backbone)
    monkeypatch.setattr(airl_run, "load_tokenizer", lambda path: path)

    model, tokenizer = airl_run.build_reward_model(typed)
    [(path, kwargs)] = calls
    assert path == tokenizer == typed.reward_model.name_or_path
    assert kwargs == {"dtype": torch.bfloat16}  # bf16, no quantization_config, no device_map
    lora = model.backbone.peft_config["default"]
    assert (lora.r, lora.lora_alpha) == (32, typed.reward_model.lora.alpha)
    assert set(lora.target_modules) == set(typed.reward_model.lora.target_modules)
    frozen = {p.dtype for n, p in model.backbone.named_parameters() if "lora_" not in n}
    assert frozen == {torch.bfloat16}
    assert model.head.weight.dtype == torch.float32  # the trained head stays float32 (TokenRewardModel)
    assert model.backbone.base_model.model.is_gradient_checkpointing is typed.reward_model.gradient_checkpointing
