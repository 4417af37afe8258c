"""The paper presets carry the seed paper's recipe: each preset's values, pinned against the seed config it came from.

The seed's files are cited by their path in its repository (fanconic/expert_reasoning, configs/...). Seed key -> ours:
policy_name / name -> model.name_or_path, reward_name -> reward_model.name_or_path, policy_lora_rank / lora_rank ->
model.lora.r, reward_lora_rank -> reward_model.lora.r,
optim / adam_beta1 / adam_beta2 / weight_decay / lr_scheduler_type / warmup_ratio / gradient_accumulation_steps /
per_device_train_batch_size -> training.*, eval.eval_steps -> training.eval_steps, policy_learning_rate /
learning_rate -> training.learning_rate, reward_learning_rate -> method.disc_learning_rate, disc_label_smoothing ->
method.label_smoothing, dense_gamma -> method.gamma, num_neg_perturbations_per_expert ->
method.perturbations_per_expert, neg_perturb_fns -> method.perturbations (names mapped as in
configs/recipe/seed_airl.yaml), dataset.expert_error_rate -> method.expert_error_rate (configs/ablation/expert_errors.yaml).

Where the presets deliberately differ (the one-GPU recipe the pinned libraries support, docs/scaling_out.md): the
seed's load_in_4bit (policy and discriminator, unsloth) -> both in bf16, and the seed's
policy_gpu_memory_utilization (0.6, for unsloth's engine that shares the training weights) -> TRL's colocated vLLM
engine with its own weights at the default share (0.3).
"""

from __future__ import annotations

import pytest
import yaml
from omegaconf import OmegaConf
from preset_methods import PAIRS, REWARD_VARIANTS

from reasoning_irl.composition import compose
from reasoning_irl.config import ConfigError, config_dir, validate
from reasoning_irl.training.airl.config import AIRLRunConfig
from reasoning_irl.training.config import GRPORunConfig, SFTRunConfig

SCHEMAS = {"sft": SFTRunConfig, "grpo": GRPORunConfig, "airl": AIRLRunConfig}

# In every seed training config (sft_*, grpo_* and *_irl_train*).
ALL = {
    "model.load_in_4bit": False,  # the seed: True (see the module docstring)
    "model.backend": "auto",
    "model.lora.r": 128,
    "training.optim": "paged_adamw_8bit",
    "training.adam_beta1": 0.9,
    "training.adam_beta2": 0.99,
    "training.lr_scheduler_type": "cosine",
    "training.warmup_ratio": 0.1,
    "training.weight_decay": 0.1,
    "training.gradient_accumulation_steps": 2,
    "training.max_steps": 500,
    "training.max_grad_norm": 1.0,
}
SAMPLING = {
    "sampling.use_vllm": True,
    "sampling.vllm_mode": "colocate",
    "sampling.vllm_gpu_memory_utilization": 0.3,  # the seed: 0.6 (see the module docstring)
    "sampling.num_generations": 16,
    "sampling.top_p": 0.95,
    "sampling.temperature": 1.0,
    "sampling.max_prompt_length": 300,
    "sampling.max_completion_length": 824,
}
AIRL = {
    "reward_model.load_in_4bit": False,  # the seed: True (see the module docstring)
    "reward_model.lora.r": 32,
    "method.disc_learning_rate": 1e-5,
    "method.label_smoothing": 0.1,
    "method.expert_error_rate": 0.0,
    "method.reward_mode": "dense",
}
SEED_NEGATIVES = [
    "flip_operator",
    "shift_answer",
    "corrupt_numbers",
]  # flip_operator_in_one_step, ..._nearby_number, ...

QWEN = {size: f"Qwen/Qwen2.5-{size}-Instruct" for size in ("0.5B", "1.5B", "3B", "7B")}
LLAMA_1B, LLAMA_3B, LLAMA_8B = (f"meta-llama/Llama-3.{v}-Instruct" for v in ("2-1B", "2-3B", "1-8B"))


def airl(policy, reward, dataset, eval_steps, lr=1e-5, batch=16, gamma=0.9, negatives=2):
    return {
        "model.name_or_path": policy,
        "reward_model.name_or_path": reward,
        "dataset.name": dataset,
        "training.eval_steps": eval_steps,
        "training.learning_rate": lr,
        "training.per_device_batch_size": batch,
        "method.gamma": gamma,
        "method.perturbations_per_expert": negatives,
        **({"method.perturbations": SEED_NEGATIVES} if negatives else {}),
    }


def policy_only(policy, dataset, eval_steps, lr=1e-5, batch=16):
    return {
        "model.name_or_path": policy,
        "dataset.name": dataset,
        "training.eval_steps": eval_steps,
        "training.learning_rate": lr,
        "training.per_device_batch_size": batch,
    }


# preset -> (the seed config it reproduces, the values it must compose to besides ALL / SAMPLING / AIRL)
SEED_RECIPE = {
    "gsm8k_qwen2.5-3b_airl": (
        "configs/qwen3b/3B_1B_config_irl_train.yaml",
        airl(QWEN["3B"], QWEN["0.5B"], "gsm8k_kd", 50),
    ),
    "gsm8k_qwen2.5-3b_grpo": ("configs/qwen3b/grpo_3B_config_train.yaml", policy_only(QWEN["3B"], "gsm8k", 50)),
    "gsm8k_qwen2.5-3b_sft": ("configs/qwen3b/sft_3B_config_train.yaml", policy_only(QWEN["3B"], "gsm8k_kd", 50)),
    "gsm8k_qwen2.5-7b_airl": (
        "configs/qwen7b/7B_1B_config_irl_train.yaml",
        airl(QWEN["7B"], QWEN["1.5B"], "gsm8k_kd", 50),
    ),
    "gsm8k_qwen2.5-7b_grpo": ("configs/qwen7b/grpo_7B_config_train.yaml", policy_only(QWEN["7B"], "gsm8k", 50)),
    "gsm8k_qwen2.5-7b_sft": ("configs/qwen7b/sft_7B_config_train.yaml", policy_only(QWEN["7B"], "gsm8k_kd", 50)),
    "gsm8k_llama-3.2-3b_airl": (
        "configs/llama3b/3B_1B_config_irl_train.yaml",
        airl(LLAMA_3B, LLAMA_1B, "gsm8k_kd", 100, lr=1e-4),
    ),
    "gsm8k_llama-3.2-3b_grpo": (
        "configs/llama3b/grpo_3B_config_train.yaml",
        policy_only(LLAMA_3B, "gsm8k", 100, lr=1e-4),
    ),
    "gsm8k_llama-3.2-3b_sft": ("configs/llama3b/sft_3B_config_train.yaml", policy_only(LLAMA_3B, "gsm8k_kd", 100)),
    "gsm8k_llama-3.1-8b_airl": (
        "configs/llama8b/8B_1B_config_irl_train.yaml",
        airl(LLAMA_8B, LLAMA_1B, "gsm8k_kd", 100, lr=1e-4, gamma=0.0),
    ),
    "gsm8k_llama-3.1-8b_grpo": (
        "configs/llama8b/grpo_8B_config_train.yaml",
        policy_only(LLAMA_8B, "gsm8k", 50, lr=1e-4),
    ),
    "gsm8k_llama-3.1-8b_sft": ("configs/llama8b/sft_8B_config_train.yaml", policy_only(LLAMA_8B, "gsm8k_kd", 100)),
    # The discriminator-size sweep (the 1.5B discriminator is gsm8k_qwen2.5-7b_airl itself).
    "gsm8k_qwen2.5-7b-disc-0.5b_airl": (
        "configs/qwen7b-discriminator/7B_0B_config_irl_train.yaml",
        airl(QWEN["7B"], QWEN["0.5B"], "gsm8k_kd", 50),
    ),
    "gsm8k_qwen2.5-7b-disc-math-1.5b_airl": (
        "configs/qwen7b-discriminator/7B_1BMath_config_irl_train.yaml",
        airl(QWEN["7B"], "Qwen/Qwen2.5-Math-1.5B-Instruct", "gsm8k_kd", 50),
    ),
    "gsm8k_qwen2.5-7b-disc-3b_airl": (
        "configs/qwen7b-discriminator/7B_3B_config_irl_train.yaml",
        airl(QWEN["7B"], QWEN["3B"], "gsm8k_kd", 50),
    ),
    # MedReason (the seed's medical_kd / medical): no perturbed negatives, 32 completions per micro-batch.
    "medreason_qwen2.5-3b_airl": (
        "configs/medreason/qwen3b/3B_1B_config_irl_train.yaml",
        airl(QWEN["3B"], QWEN["0.5B"], "medreason", 100, batch=32, negatives=0),
    ),
    "medreason_qwen2.5-3b_grpo": (
        "configs/medreason/qwen3b/grpo_3B_config_train.yaml",
        policy_only(QWEN["3B"], "medreason", 100, batch=32),
    ),
    "medreason_qwen2.5-3b_sft": (
        "configs/medreason/qwen3b/sft_3B_config_train.yaml",
        policy_only(QWEN["3B"], "medreason", 100, batch=32),
    ),
    "medreason_qwen2.5-7b_airl": (
        "configs/medreason/qwen7b/7B_1B_config_irl_train.yaml",
        # the seed's 2 x 32 completions per update as 4 x 16, to fit 80 GiB in bf16 (the preset says why)
        {
            **airl(QWEN["7B"], QWEN["1.5B"], "medreason", 100, batch=16, negatives=0),
            "training.gradient_accumulation_steps": 4,
        },
    ),
    "medreason_qwen2.5-7b_grpo": (
        "configs/medreason/qwen7b/grpo_7B_config_train.yaml",
        policy_only(QWEN["7B"], "medreason", 100, batch=32),
    ),
    "medreason_qwen2.5-7b_sft": (
        "configs/medreason/qwen7b/sft_7B_config_train.yaml",
        policy_only(QWEN["7B"], "medreason", 100, batch=32),
    ),
    "medreason_llama-3.2-3b_airl": (
        "configs/medreason/llama3b/3B_1B_config_irl_train.yaml",
        airl(LLAMA_3B, LLAMA_1B, "medreason", 100, batch=32, negatives=0),
    ),
    "medreason_llama-3.2-3b_grpo": (
        "configs/medreason/llama3b/grpo_3B_config_train.yaml",
        policy_only(LLAMA_3B, "medreason", 100, batch=32),
    ),
    "medreason_llama-3.2-3b_sft": (
        "configs/medreason/llama3b/sft_3B_config_train.yaml",
        policy_only(LLAMA_3B, "medreason", 100, batch=32),
    ),
    "medreason_llama-3.1-8b_airl": (
        "configs/medreason/llama8b/8B_1B_config_irl_train.yaml",
        airl(LLAMA_8B, LLAMA_1B, "medreason", 100, negatives=0),
    ),
    "medreason_llama-3.1-8b_grpo": (
        "configs/medreason/llama8b/grpo_8B_config_train.yaml",
        policy_only(LLAMA_8B, "medreason", 100, batch=32),
    ),
    "medreason_llama-3.1-8b_sft": (
        "configs/medreason/llama8b/sft_8B_config_train.yaml",
        policy_only(LLAMA_8B, "medreason", 100, batch=32),
    ),
}


def _get(node, dotted):
    for key in dotted.split("."):
        node = node[key]
    return node


def _typed(method, overrides):
    resolved = OmegaConf.to_container(compose(method, overrides), resolve=True)
    validate(resolved, SCHEMAS[method], "config")  # the preset is also a valid run config
    return resolved


@pytest.mark.parametrize("preset", sorted(SEED_RECIPE))
def test_preset_carries_the_seed_recipe(preset):
    seed_file, values = SEED_RECIPE[preset]
    method = preset.rsplit("_", 1)[1]
    expected = {**ALL, **(SAMPLING if method != "sft" else {}), **(AIRL if method == "airl" else {}), **values}
    resolved = _typed(method, [f"experiment={preset}"])
    wrong = {key: (_get(resolved, key), want) for key, want in expected.items() if _get(resolved, key) != want}
    assert not wrong, f"{preset} differs from the seed's {seed_file} (ours, seed's): {wrong}"
    text = (config_dir() / "experiment" / f"{preset}.yaml").read_text()
    assert seed_file in text, f"{preset}.yaml does not cite the seed file it reproduces ({seed_file})"


def test_every_paper_preset_is_pinned():
    presets = {
        p.stem for p in (config_dir() / "experiment").glob("*.yaml") if p.stem.startswith(("gsm8k_", "medreason_"))
    }
    variants = {p for p in presets if p.endswith(tuple(f"_{v}" for v in REWARD_VARIANTS))}
    assert presets - variants == set(SEED_RECIPE)
    # each variant is a pinned preset with only the reward changed (tests/training/test_paper_presets_build.py)
    for variant in variants:
        defaults = yaml.safe_load((config_dir() / "experiment" / f"{variant}.yaml").read_text())["defaults"]
        assert defaults[0] in SEED_RECIPE, variant
    for task in ("gsm8k", "medreason"):  # the four pairs, three methods each
        for pair in PAIRS:
            assert {f"{task}_{pair}_{m}" for m in SCHEMAS} <= presets


@pytest.mark.parametrize(
    "ablation, seed_variant, key, value",
    [
        ("expert_errors", "_error", "method.expert_error_rate", 0.2),
        ("continued", "_continued", "training.eval_steps", 100),
        ("sparse", "_sparse", "method.reward_mode", "sparse"),
        ("unnormalized", "_unnormalised", "method.normalize_rewards", False),
    ],
)
def test_ablation_overlays_carry_the_seed_variant(ablation, seed_variant, key, value, tmp_path):
    # configs/<pair>/*_irl_train<seed_variant>.yaml; the overlay changes only what the variant changes
    overrides = ["experiment=gsm8k_qwen2.5-3b_airl", f"+ablation={ablation}"]
    if ablation == "continued":
        overrides.append(f"model.init_adapter={tmp_path}")
    resolved = _typed("airl", overrides)
    assert _get(resolved, key) == value
    base = _typed("airl", ["experiment=gsm8k_qwen2.5-3b_airl"])
    assert _get(base, "training.optim") == _get(resolved, "training.optim") == "paged_adamw_8bit"


def test_continued_starts_from_the_given_airl_policy(tmp_path, monkeypatch):
    import importlib.machinery
    import sys
    import types

    from reasoning_irl.models import loading

    resolved = _typed(
        "airl", ["experiment=gsm8k_qwen2.5-7b_airl", "+ablation=continued", f"model.init_adapter={tmp_path}"]
    )
    assert resolved["model"]["init_adapter"] == str(tmp_path)
    assert resolved["method"]["frozen_reward_model"] is None  # the seed trains a fresh discriminator
    # runner_scripts/paper_ablations.sh passes no model.backend: on a CUDA machine with unsloth installed, `auto`
    # picked unsloth, which refused init_adapter. Every backend now loads with transformers, where it works.
    unsloth = types.ModuleType("unsloth")
    unsloth.__spec__ = importlib.machinery.ModuleSpec("unsloth", None)
    monkeypatch.setitem(sys.modules, "unsloth", unsloth)
    monkeypatch.setattr(loading, "cuda_available", lambda: True)
    assert loading.resolve_backend(resolved["model"]["backend"]) == "hf"
    from reasoning_irl.training.setup import check_recipe

    check_recipe(validate(resolved, AIRLRunConfig, "config"), on_this_machine=False)


@pytest.mark.parametrize(
    "overrides, message",
    [
        (
            ["training.warmup_steps=5", "training.warmup_ratio=0.1"],
            "training.warmup_steps (5) and training.warmup_ratio (0.1) both set: give one of them",
        ),
        (["training.warmup_ratio=1.0"], "training.warmup_ratio must be in [0, 1)"),
        (["training.adam_beta2=1.0"], "training.adam_beta1 and adam_beta2 must be in [0, 1)"),
        (
            ["training.optim=adamw_9bit"],
            "training.optim 'adamw_9bit' unknown; choose a transformers optimizer: adamw_torch",
        ),
    ],
)
def test_bad_optimizer_settings_fail_in_one_line(overrides, message):
    resolved = OmegaConf.to_container(compose("grpo", ["experiment=tiny_grpo", *overrides]), resolve=True)
    with pytest.raises(ConfigError) as info:
        validate(resolved, GRPORunConfig, "config")
    assert str(info.value).startswith(message) and "\n" not in str(info.value)


def test_optimizer_keys_reach_the_trainer(tmp_path):
    from trl import GRPOConfig

    from reasoning_irl.training.setup import grpo_arguments, start_run

    cfg = compose(
        "grpo",
        [
            "experiment=tiny_grpo",
            f"output_root={tmp_path}",
            "training.max_steps=40",
            "training.optim=paged_adamw_8bit",
            "training.adam_beta1=0.8",
            "training.adam_beta2=0.99",
            "training.warmup_ratio=0.1",
            "training.lr_scheduler_type=cosine",
        ],
    )
    args = grpo_arguments(start_run(cfg, GRPORunConfig, "grpo"), GRPOConfig)
    assert (args.optim, args.adam_beta1, args.adam_beta2, args.lr_scheduler_type) == (
        "paged_adamw_8bit",
        0.8,
        0.99,
        "cosine",
    )
    assert args.get_warmup_steps(args.max_steps) == 4  # the ratio of max_steps (transformers 5: warmup_steps < 1)
