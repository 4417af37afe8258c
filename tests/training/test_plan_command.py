"""plan=true: the table and verdict of a paper preset, printed before Hydra, with no run folder and no network."""

from __future__ import annotations

import math
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from reasoning_irl.cli import check_overrides
from reasoning_irl.composition import compose
from reasoning_irl.config import validate
from reasoning_irl.training.airl.config import AIRLRunConfig
from reasoning_irl.training.config import GRPORunConfig
from reasoning_irl.training.plan import GIB, disc_rows_per_update, estimate
from reasoning_irl.training.setup import to_dict

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def no_network(monkeypatch):
    """Any connection attempt fails the test."""

    def refuse(*args, **kwargs):
        raise AssertionError(f"network access attempted: {args}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    for key in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        monkeypatch.delenv(key, raising=False)


def plan_of(name: str, schema: type, *overrides: str):
    resolved = to_dict(compose(name, list(overrides)))
    typed = validate({k: v for k, v in resolved.items() if k != "hydra"}, schema, "config")
    return typed, estimate(typed, name, typed.plan_gpu_gb)


def line(est, term: str, held: str = "always"):
    return next(x for x in est.lines if x.term.startswith(term) and x.held == held)


def test_plan_on_a_paper_preset_prints_the_table_and_writes_nothing(tmp_path, monkeypatch, capsys, no_network):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as done:
        check_overrides("airl", ["experiment=gsm8k_qwen2.5-3b_airl", "plan=true", f"output_root={tmp_path / 'runs'}"])
    assert done.value.code == 0
    out = capsys.readouterr().out
    assert "plan: airl, gsm8k_qwen2.5-3b_airl-s0, one GPU of 80 GiB" in out
    for row in (
        "parameters",
        "3.09 B",
        "0.49 B",
        "0.24 B (LoRA r=128)",
        "17.6 M (LoRA r=32)",
        "optimizer states",
        "optimizer, policy: paged_adamw_8bit (bitsandbytes, paged): 2 states, 1 byte + a float32 absmax",
        "vLLM share (0.3 x GPU)",
        "peak: always",
    ):
        assert row in out, row
    assert out.strip().splitlines()[-1].startswith("verdict: fits: about ")
    assert list(tmp_path.iterdir()) == []  # no run folder, no tiny model, no cache


def test_a_model_the_plan_cannot_size_is_one_line_and_exit_2(tmp_path, monkeypatch, capsys, no_network):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as done:
        check_overrides("grpo", ["experiment=gsm8k_qwen2.5-3b_grpo", "plan=true", "model.name_or_path=org/Nope-9B"])
    err = capsys.readouterr().err
    assert done.value.code == 2 and err.count("\n") == 1 and "no architecture for 'org/Nope-9B'" in err


def test_plan_refuses_a_multirun(capsys):
    with pytest.raises(SystemExit) as done:
        check_overrides("grpo", ["-m", "experiment=gsm8k_qwen2.5-3b_grpo", "plan=true", "seed=0,1"])
    assert done.value.code == 2 and "plan=true sizes one job" in capsys.readouterr().err


# The paper presets follow the one-GPU recipe (bf16, paged 8-bit AdamW, vLLM colocated, two micro-batches); the
# hand-computed terms below are for torch AdamW, HF generate and one micro-batch.
BF16 = (
    "model.load_in_4bit=false",
    "training.optim=adamw_torch",
    "sampling.use_vllm=false",
    "training.gradient_accumulation_steps=1",
)
TORCH_HF = BF16[1:3]  # torch AdamW, HF generate


def test_the_terms_follow_the_config():
    typed, est = plan_of("airl", AIRLRunConfig, "experiment=gsm8k_qwen2.5-3b_airl", *BF16)
    policy, reward = est.sizes["policy"], est.sizes["reward"]
    weights = line(est, "weights")
    assert (weights.policy, weights.reward) == (policy.params * 2, reward.params * 2)  # bfloat16
    optimizer = line(est, "optimizer")
    assert optimizer.policy == 2 * 4 * policy.lora  # 2 float32 states per adapter parameter
    assert optimizer.reward == 2 * 4 * (reward.lora + reward.head)  # the discriminator's own torch AdamW
    assert line(est, "gradients", "disc update").reward == 4 * (reward.lora + reward.head)
    rows, prompt, completion = 16, 300, 824
    # accelerate's float32 logits of the completion + 1 positions, every row's float32 copy, one row's temporary
    logits = (rows * (completion + 1) * 4 + rows * completion * 4 + completion * 4) * policy.vocab_size
    assert line(est, "logits", "policy update").policy == logits
    assert (
        line(est, "generation KV cache", "sampling").policy
        == rows * (prompt + completion) * 2 * policy.num_layers * policy.kv_dim * 2
    )
    # checkpointing keeps one h-wide tensor per layer (plus one layer): far less than every layer's full set
    _, full = plan_of(
        "airl", AIRLRunConfig, "experiment=gsm8k_qwen2.5-3b_airl", *BF16, "model.gradient_checkpointing=false"
    )
    assert line(full, "activations", "policy update").policy > 4 * line(est, "activations", "policy update").policy
    assert est.peak() == est.always() + max(est.phases().values())
    # the discriminator has no logits: a recomputed layer is the larger term there
    assert (
        line(est, "recomputed layer", "disc update").reward > 0 == line(est, "recomputed layer", "policy update").policy
    )


def test_a_discriminator_pass_holds_the_rows_one_update_has_at_most_its_micro_batch():
    # 4 rows of 4 generations: 1 prompt -> its expert, 2 perturbed copies, 3 samples (the 4th is the expert); 1 extra
    # expert with its 2 copies: 9 rows, fewer than the micro-batch of 32
    small = ("training.per_device_batch_size=4", "sampling.num_generations=4", "method.disc_extra_experts=1")
    typed, est = plan_of("airl", AIRLRunConfig, "experiment=gsm8k_qwen2.5-3b_airl", *BF16, *small)
    assert disc_rows_per_update(typed) == 9
    _, micro = plan_of(
        "airl", AIRLRunConfig, "experiment=gsm8k_qwen2.5-3b_airl", *BF16, *small, "method.disc_micro_batch_size=9"
    )
    _, fewer = plan_of(
        "airl", AIRLRunConfig, "experiment=gsm8k_qwen2.5-3b_airl", *BF16, *small, "method.disc_micro_batch_size=3"
    )
    activations = [line(e, "activations", "disc update").reward for e in (est, micro, fewer)]
    assert activations[0] == activations[1] == 3 * activations[2]
    paper = plan_of("airl", AIRLRunConfig, "experiment=gsm8k_qwen2.5-3b_airl")[0]
    s = paper.sampling
    prompts = paper.training.per_device_batch_size * paper.training.gradient_accumulation_steps // s.num_generations
    assert disc_rows_per_update(paper) == prompts * (1 + 2) + prompts * (s.num_generations - 1)


def test_4bit_vllm_and_full_fine_tuning_change_what_they_should():
    _, base = plan_of("grpo", GRPORunConfig, "experiment=gsm8k_llama-3.1-8b_grpo", *TORCH_HF)
    # a 4-bit policy samples with HF generate (with vLLM it is refused: test_plan_terms)
    _, small = plan_of(
        "grpo",
        GRPORunConfig,
        "experiment=gsm8k_llama-3.1-8b_grpo",
        "model.load_in_4bit=true",
        "sampling.use_vllm=false",
    )
    llama = small.sizes["policy"]
    # NF4 (0.5 byte + a float32 absmax per 64) on the decoder's Linear weights; embeddings, LM head, norms in bf16
    embeddings = 2 * 128256 * 4096 + (2 * 32 + 1) * 4096
    assert llama.quantizable == llama.params - embeddings
    assert line(small, "weights").policy == llama.quantizable * (0.5 + 4 / 64) + embeddings * 2
    assert line(small, "weights").policy < 0.4 * line(base, "weights").policy
    _, colocated = plan_of("grpo", GRPORunConfig, "experiment=gsm8k_llama-3.1-8b_grpo", "plan_gpu_gb=40")
    assert line(colocated, "vLLM share").policy == math.ceil(0.3 * 40 * GIB)  # TRL's default share of the GPU
    assert not any(x.term == "generation KV cache" for x in colocated.lines)
    _, full = plan_of("grpo", GRPORunConfig, "experiment=gsm8k_qwen2.5-3b_grpo", "model.lora=null", *TORCH_HF)
    policy = full.sizes["policy"]
    assert line(full, "reference model").policy == policy.params * 2 and policy.trainable == policy.params
    assert line(full, "optimizer").policy == 2 * 2 * policy.params  # AdamW states in the weights' bfloat16


def test_a_run_that_cannot_fit_says_so_and_what_to_change(capsys, no_network, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as done:
        check_overrides(
            "grpo",
            [
                "experiment=gsm8k_qwen2.5-7b_grpo",
                "plan=true",
                "plan_gpu_gb=16",
                "model.gradient_checkpointing=false",
                "sampling.use_vllm=false",
                "training.optim=adamw_torch",
            ],
        )
    verdict = capsys.readouterr().out.strip().splitlines()[-1]
    assert done.value.code == 0 and verdict.startswith("verdict: does not fit: about ")
    assert "model.gradient_checkpointing=true" in verdict and "model.load_in_4bit=true" in verdict
    assert "training.optim=paged_adamw_8bit" in verdict


def test_the_entry_scripts_print_the_plan(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "HF_HUB_OFFLINE": "1"}
    done = subprocess.run(
        [sys.executable, str(REPO / "sft_train.py"), "experiment=gsm8k_qwen2.5-3b_sft", "plan=true"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert "of 1124 tokens" in done.stdout and "verdict: " in done.stdout and list(tmp_path.iterdir()) == []
