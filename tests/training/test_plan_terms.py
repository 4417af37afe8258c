"""plan=true's library-shaped terms: optimizer states as the configured optimizer keeps them, vLLM's colocated share
and its KV-cache checks, the run's own refusals, the smoke run's planned peak, and every paper preset planned."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from preset_methods import preset_method

from reasoning_irl.cli import check_overrides
from reasoning_irl.composition import compose
from reasoning_irl.config import ConfigError, validate
from reasoning_irl.models.plan import Trainable
from reasoning_irl.training import plan as plan_module
from reasoning_irl.training.airl.config import AIRLRunConfig
from reasoning_irl.training.config import GRPORunConfig
from reasoning_irl.training.plan import estimate
from reasoning_irl.training.plan_terms import BNB_NAMES, GIB, TORCH_STATES, optimizer, optimizer_bytes, vllm_share
from reasoning_irl.training.setup import Run, check_reward_model_config, check_vllm, grpo_arguments, to_dict

REPO = Path(__file__).resolve().parents[2]
# Qwen2.5-3B with the paper's LoRA r=128 on q, k, v, o (2048 -> 2048, 256, 256, 2048), gate, up (2048 -> 11008) and
# down (11008 -> 2048): A is r x in, B is out x r; the smallest tensors are k's and v's B (256 x 128 = 32,768 values)
QWEN3B_LAYER = 128 * (2 * (2048 + 2048) + 2 * (2048 + 256) + 3 * (2048 + 11008))
QWEN3B_LORA = 36 * QWEN3B_LAYER


def typed_of(name: str, schema: type, *overrides: str):
    resolved = to_dict(compose(name, list(overrides)))
    return validate({k: v for k, v in resolved.items() if k != "hydra"}, schema, "config")


def plan_of(name: str, schema: type, *overrides: str):
    typed = typed_of(name, schema, *overrides)
    return typed, estimate(typed, name, typed.plan_gpu_gb)


def line(est, term: str, held: str = "always"):
    return next(x for x in est.lines if x.term.startswith(term) and x.held == held)


def run_cli(method: str, argv: list[str], capsys) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as done:
        check_overrides(method, argv)
    out = capsys.readouterr()
    return done.value.code, out.out, out.err


# --- optimizer states --------------------------------------------------------------------------------------------
def test_optimizer_bytes_follow_bitsandbytes_tensor_by_tensor():
    tensors = [
        Trainable(4095, True, False),  # under min_8bit_size: float32 states
        Trainable(4096, True, False),  # 8-bit: 1 byte per value + a float32 absmax per 256 values
        Trainable(100_000, False, True),  # an embedding: transformers' 32-bit override; paged (>= 1e5 values)
        Trainable(100_000, True, False),  # 8-bit, its uint8 states paged, its 391 absmax values not
    ]
    total, paged = optimizer_bytes(optimizer("paged_adamw_8bit"), tensors, dtype_bytes=2)
    assert total == 2 * 4095 * 4 + (2 * 4096 + 2 * 16 * 4) + 2 * 100_000 * 4 + (2 * 100_000 + 2 * 391 * 4)
    assert paged == 2 * 100_000 * 4 + 2 * 100_000
    assert optimizer_bytes(optimizer("adamw_8bit"), tensors, 2) == (total, 0)  # the same states, not paged
    # torch: states in the parameter's dtype (the embedding is a bf16 base weight, the rest float32 adapters)
    assert optimizer_bytes(optimizer("adamw_torch"), tensors, 2) == (
        2 * 4 * (4095 + 4096 + 100_000) + 2 * 2 * 100_000,
        0,
    )
    # bitsandbytes' 32-bit states are float32 whatever the parameter; Lion keeps 1 state, AdEMAMix 3
    assert optimizer_bytes(optimizer("paged_adamw_32bit"), tensors, 2) == (2 * 4 * 208_191, 2 * 4 * 200_000)
    assert optimizer_bytes(optimizer("lion_8bit"), [Trainable(4096, True, False)], 2) == (4096 + 16 * 4, 0)
    assert optimizer_bytes(optimizer("ademamix_8bit"), [Trainable(4096, True, False)], 2) == (3 * (4096 + 16 * 4), 0)
    assert optimizer_bytes(optimizer("sgd"), tensors, 2) == (0, 0)


def test_the_optimizer_names_are_the_ones_transformers_dispatches():
    from transformers.trainer_optimizer import _BITSANDBYTES_OPTIMIZERS
    from transformers.training_args import OptimizerNames

    assert {name.value for name in _BITSANDBYTES_OPTIMIZERS} == BNB_NAMES
    assert set(TORCH_STATES) <= {name.value for name in OptimizerNames}


def test_paged_8bit_adamw_against_torch_adamw_on_the_paper_adapter():
    _, paged = plan_of("grpo", GRPORunConfig, "experiment=gsm8k_qwen2.5-3b_grpo")  # the recipe: paged_adamw_8bit
    assert paged.sizes["policy"].lora == QWEN3B_LORA == 239_468_544
    # every adapter tensor is 8-bit (>= 4096 values, all multiples of 256): 2 x (1 byte + 4 / 256) per value
    assert line(paged, "optimizer").policy == 36 * (2 * QWEN3B_LAYER + 2 * 4 * QWEN3B_LAYER // 256) == 486_420_480
    # paged: every uint8 state but those of k's and v's B (32,768 values < 1e5)
    paged_bytes = 36 * 2 * (QWEN3B_LAYER - 2 * 256 * 128)
    assert f"{paged_bytes / GIB:.2f} GiB of it paged" in "\n".join(paged.notes)
    _, torch_adamw = plan_of("grpo", GRPORunConfig, "experiment=gsm8k_qwen2.5-3b_grpo", "training.optim=adamw_torch")
    assert line(torch_adamw, "optimizer").policy == 2 * 4 * QWEN3B_LORA == 1_915_748_352
    _, unknown = plan_of("grpo", GRPORunConfig, "experiment=gsm8k_qwen2.5-3b_grpo", "training.optim=adafactor")
    assert line(unknown, "optimizer states (adafactor unknown: as AdamW)").policy == 2 * 4 * QWEN3B_LORA
    assert "adafactor: unknown to the plan, counted as float32 AdamW" in unknown.notes[0]


# --- vLLM, colocated ---------------------------------------------------------------------------------------------
QWEN7B_KV_TOKEN = 2 * 28 * (4 * 128) * 2  # K and V, 28 layers, 4 KV heads of 128, bf16


def test_the_vllm_share_holds_weights_profile_graphs_and_kv_cache():
    typed, est = plan_of("grpo", GRPORunConfig, "experiment=gsm8k_qwen2.5-7b_grpo")  # colocate, 0.3 of 80 GiB
    share = vllm_share(typed.sampling, typed.training, est.sizes["policy"], 80 * GIB)
    assert line(est, "vLLM share (0.3 x GPU)").policy == share.share == math.ceil(0.3 * 80 * GIB)
    assert share.weights == 7_615_616_512 * 2  # vLLM's own bf16 copy
    assert share.activations == 4096 * (3584 + 3 * 18944) * 2  # 4096 profile tokens through the widest MLP point
    assert share.kv_left == share.share - share.weights - share.activations - GIB
    assert share.kv_token == QWEN7B_KV_TOKEN == 57_344
    assert (share.max_model_len, share.start_need) == (1124, 1136 * QWEN7B_KV_TOKEN)  # 71 blocks of 16
    # 16 rows x 2 micro-batches per generation; 300 + 824 = 1124 tokens take 71 blocks of 16
    assert share.generation_need == 32 * 1136 * QWEN7B_KV_TOKEN
    assert est.blocking == [] and not any(n.startswith("warning") for n in est.notes)


def test_a_share_too_small_for_one_max_model_len_sequence_is_refused_as_vllm_would():
    # Llama-3.1-8B with a 64k-token context (300 + 65,236) at the default 0.3 of 80 GiB
    long = ("experiment=gsm8k_llama-3.1-8b_grpo", "sampling.max_completion_length=65236")
    _, est = plan_of("grpo", GRPORunConfig, *long)
    # weights 2 x 8,030,261,248; profile 4096 x (4096 + 3 x 14336) x 2; graphs 1 GiB; 65,536 tokens x 128 KiB
    need = 2 * 8_030_261_248 + 4096 * (4096 + 3 * 14336) * 2 + GIB + 65_536 * (2 * 32 * 1024 * 2)
    assert math.ceil(need / (80 * GIB) * 100) / 100 == 0.31
    assert len(est.blocking) == 1 and "vLLM refuses to start" in est.blocking[0] and "at least 0.31" in est.blocking[0]
    _, enough = plan_of("grpo", GRPORunConfig, *long, "sampling.vllm_gpu_memory_utilization=0.31")
    assert enough.blocking == []
    _, preset = plan_of("grpo", GRPORunConfig, "experiment=gsm8k_llama-3.1-8b_grpo")  # its own 1,124 tokens
    assert preset.blocking == []


def test_a_cache_short_of_one_generation_warns_and_server_mode_holds_nothing():
    typed, est = plan_of(
        "grpo", GRPORunConfig, "experiment=gsm8k_qwen2.5-7b_grpo", "sampling.max_completion_length=8000"
    )
    share = vllm_share(typed.sampling, typed.training, est.sizes["policy"], 80 * GIB)
    fits = int(share.kv_left // (8304 * QWEN7B_KV_TOKEN))  # 8300 tokens in 519 blocks of 16
    assert est.blocking == [] and 0 < fits < 32
    assert f"warning: vLLM's KV cache ({share.kv_left / GIB:.2f} GiB) holds {fits} of the 32 sequences" in "\n".join(
        est.notes
    )
    _, server = plan_of("grpo", GRPORunConfig, "experiment=gsm8k_qwen2.5-7b_grpo", "sampling.vllm_mode=server")
    assert not any(x.term.startswith(("vLLM", "generation KV cache")) for x in server.lines)
    assert not any("vLLM" in n for n in server.notes)


def test_the_plan_reads_the_vllm_arguments_the_run_passes_to_trl(tmp_path):
    """plan_terms.vllm_share assumes what grpo_arguments hands TRL: vllm_max_model_length = max_prompt_length +
    max_completion_length, steps_per_generation = gradient_accumulation_steps, no sleep mode, one vLLM rank."""
    from trl import GRPOConfig

    typed = typed_of("grpo", GRPORunConfig, "experiment=gsm8k_qwen2.5-7b_grpo")
    args = grpo_arguments(Run(typed, None, tmp_path / "run", None, ""), GRPOConfig)
    assert args.vllm_max_model_length == 300 + 824, "the run's max_model_len changed: plan_terms.vllm_share must follow"
    assert (args.steps_per_generation, args.vllm_tensor_parallel_size) == (
        typed.training.gradient_accumulation_steps,
        1,
    )
    assert args.vllm_enable_sleep_mode is False and args.vllm_gpu_memory_utilization == 0.3
    assert not (tmp_path / "run").exists()


# --- refusals ----------------------------------------------------------------------------------------------------
def test_a_4bit_policy_with_vllm_and_unsloth_get_the_runs_own_refusal(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    for override in ("model.load_in_4bit=true", "model.backend=unsloth"):
        argv = ["experiment=gsm8k_qwen2.5-3b_grpo", override, f"output_root={tmp_path / 'runs'}"]
        code, out, err = run_cli("grpo", [*argv, "plan=true"], capsys)
        assert (code, out) == (2, "") and err.count("\n") == 1 and "plan:" not in err
        assert run_cli("grpo", argv, capsys)[2] == err  # the run itself, refused before anything loads
    typed = typed_of("grpo", GRPORunConfig, "experiment=gsm8k_qwen2.5-3b_grpo", "model.load_in_4bit=true")
    with pytest.raises(ConfigError) as refused:
        check_vllm(True, typed.model, on_this_machine=False)
    code, _, err = run_cli("grpo", ["experiment=gsm8k_qwen2.5-3b_grpo", "model.load_in_4bit=true", "plan=true"], capsys)
    assert err == f"error: {refused.value}\n"
    assert list(tmp_path.iterdir()) == []


def test_a_4bit_reward_model_gets_the_runs_own_refusal(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    argv = ["experiment=gsm8k_qwen2.5-3b_airl", "reward_model.load_in_4bit=true"]
    with pytest.raises(ConfigError) as refused:
        check_reward_model_config(typed_of("airl", AIRLRunConfig, *argv).reward_model)
    code, out, err = run_cli("airl", [*argv, "plan=true"], capsys)
    assert (code, out, err) == (2, "", f"error: {refused.value}\n")
    # a 4-bit policy without vLLM (HF generate) stays allowed, and planned
    code, out, _ = run_cli(
        "grpo",
        ["experiment=gsm8k_qwen2.5-3b_grpo", "model.load_in_4bit=true", "sampling.use_vllm=false", "plan=true"],
        capsys,
    )
    assert code == 0 and "nf4 + bfloat16" in out and out.strip().splitlines()[-1].startswith("verdict: ")


# --- the smoke run at paper size (docs/RESULTS.md, "On one GPU") ---------------------------------------------------
SMOKE = (  # bench/gpu_smoke.py's GRPO run: a Qwen2.5-3B-architecture policy, HF generate, torch AdamW, bf16
    "experiment=gsm8k_qwen2.5-3b_grpo",
    "dataset=synthetic",
    "model.backend=hf",
    "model.load_in_4bit=false",
    "training.optim=adamw_torch",
    "training.per_device_batch_size=16",
    "training.gradient_accumulation_steps=2",
    "sampling.num_generations=16",
    "sampling.max_completion_length=824",
    "sampling.min_completion_length=824",
    "sampling.use_vllm=false",
    "training.eval_steps=0",
)


def test_the_smoke_run_is_planned_at_the_hand_derived_peak():
    _, est = plan_of("grpo", GRPORunConfig, *SMOKE)
    h, layers, vocab, rows, prompt, completion = 2048, 36, 151_936, 16, 300, 824
    always = 3_085_938_688 * 2 + QWEN3B_LORA * 4 + QWEN3B_LORA * 2 * 4 + GIB  # bf16 weights, adapters, AdamW, CUDA
    update = (
        QWEN3B_LORA * 4  # float32 gradients
        + rows * (prompt + completion) * (layers * h * 2 + 4 * h)  # layer inputs, the final norm's float32 input
        + (rows * (completion + 1) * 4 + rows * completion * 4 + completion * 4) * vocab  # logits, float32
    )
    assert est.always() == always and est.phases()["policy update"] == update
    assert est.peak() == always + update == 30_411_788_288
    assert round(est.peak() / GIB, 2) == 28.32
    assert abs(est.peak() / GIB - 28.0) / 28.0 < 0.10  # measured on one H200: 28.0 GiB (docs/RESULTS.md)


# --- every paper preset ------------------------------------------------------------------------------------------
def test_every_paper_preset_prints_a_plan(monkeypatch, capsys):
    sized: dict = {}
    model_size = plan_module.model_size

    def once(cfg, *args, **kwargs):  # the presets share a few architectures: each is sized once
        key = (repr(cfg), args, tuple(sorted(kwargs.items())))
        if key not in sized:
            sized[key] = model_size(cfg, *args, **kwargs)
        return sized[key]

    monkeypatch.setattr(plan_module, "model_size", once)
    names = sorted(
        p.stem for p in (REPO / "configs" / "experiment").glob("*.yaml") if p.stem.startswith(("gsm8k_", "medreason_"))
    )
    assert {"gsm8k_qwen2.5-7b_airl", "medreason_llama-3.1-8b_sft"} <= set(names)
    for name in names:
        method = preset_method(name)
        code, out, err = run_cli(method, [f"experiment={name}", "plan=true"], capsys)
        lines = out.strip().splitlines()
        assert code == 0 and err == "", (name, err)
        assert lines[0].startswith(f"plan: {method}, {name}-s0, ") and lines[-1].startswith("verdict: "), name
