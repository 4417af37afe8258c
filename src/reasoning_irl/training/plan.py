"""Will it fit? The parameter counts of a training run's models and an estimate of its peak memory on one GPU,
from the config alone (``plan=true`` on any training script): no weights are loaded and nothing is written.

The estimate is per training process (one GPU, no ZeRO/FSDP sharding), in GiB (2^30 bytes), and is an estimate:
what it counts, and how, is below, next to each term.

Memory that stays for the whole run ("always"):
- weights: parameters x bytes of ``model.dtype`` (``auto``: bfloat16, what a bf16 GPU gets). With ``load_in_4bit``
  the quantised Linear weights take 0.5 byte + one fp32 absmax per 64-weight block (bitsandbytes NF4, no double
  quantisation: 0.5625 byte); embeddings, norms and the LM head stay in the compute dtype.
- trainable weights: LoRA adapters in float32 (peft upcasts adapters of a bf16/fp16 base), the reward model's
  float32 scalar head; full fine-tuning trains the weights themselves, already counted.
- optimizer states: as ``training.optim`` keeps them, tensor by tensor (:mod:`reasoning_irl.training.plan_terms`:
  torch's states in the parameter's dtype, bitsandbytes' 8-bit blockwise states, paged states counted as resident);
  AIRL's discriminator has its own torch AdamW.
- reference model: GRPO/AIRL with beta > 0 compare against the adapter-free base, free with LoRA; a fully fine-tuned
  policy needs a second copy of the weights.
- vLLM (colocate): ``vllm_gpu_memory_utilization`` x the GPU, reserved at start for its weights, a profile forward,
  CUDA graphs and the KV cache (plan_terms); the plan checks that the KV cache left can hold what vLLM needs.
- CUDA context and allocator slack: 1 GiB, an assumption (``torch.cuda.max_memory_allocated`` leaves both out).

Memory of one phase at a time ("phase"; the peak is the always-held memory plus the largest phase):
- an update (policy, or discriminator in AIRL: a micro-batch of its rows, :func:`disc_rows_per_update`): its gradients (trainable parameters x their bytes), the activations
  kept for the backward, and the larger of the logits and one recomputed layer (the logits are freed before the
  backward reaches the layers). Activations per token and decoder layer: the tensors a Llama/Qwen2 layer keeps for
  its backward with SDPA/flash attention (no T x T score matrix): the two norms' inputs and outputs, q, k, v, the
  attention output, and the MLP's gate, up, act(gate) and their product, i.e. 6h + 2 kv + 4 I values (h
  hidden_size, kv the K/V width, I intermediate_size), plus the r-wide LoRA A output of each adapted module. This
  is the per-layer accounting of Korthikanti et al. 2022 ("Reducing Activation Recomputation in Large Transformer
  Models", 34 h bytes for a 4h GELU MLP in 16 bits) redone for a gated MLP and grouped KV heads, with the s^2
  attention term gone (flash attention). With gradient checkpointing only each layer's input (h values) is kept,
  and one layer's full set exists while it is recomputed; the final norm keeps its float32 input (4 h bytes).
- the logits: the policy update of GRPO/AIRL scores the completion tokens with
  :func:`~reasoning_irl.training.policy_loss.completion_logps` on the accelerate-prepared model, whose bf16 mixed
  precision returns float32 logits; each row's float32 copy stays for the log-softmax's backward, and one row's
  temporary is alive inside ``logsumexp``: vocab x (4 + 4) bytes per scored token plus one row (plan_terms).
  SFT (every token) and the discriminator's LM prior: vocab_size x (activation bytes + 4) per scored token.
- sampling without vLLM: the KV cache of ``generate``, 2 x layers x kv x activation bytes per token, for
  per_device_batch_size x gradient_accumulation_steps rows (TRL generates one optimizer step's completions at once)
  of max_prompt_length + max_completion_length tokens.

A config a run would refuse (e.g. a 4-bit policy with vLLM, a 4-bit reward model, ``model.backend=unsloth``) gets
the run's own one-line refusal instead of a plan.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from reasoning_irl.config import ConfigError
from reasoning_irl.models.config import ModelConfig
from reasoning_irl.models.plan import ModelSize, model_size
from reasoning_irl.training.plan_terms import (
    GIB,
    Optimizer,
    optimizer,
    optimizer_bytes,
    policy_logits_bytes,
    vllm_share,
)

OVERHEAD_GIB = 1.0
DTYPE_BYTES = {"auto": 2, "bfloat16": 2, "float16": 2, "float32": 4}
NF4_BYTES = 0.5 + 4 / 64  # 4 bits per weight + a float32 absmax per block of 64 (bitsandbytes' default blocksize)
DISC_OPTIMIZER = Optimizer("the discriminator's AdamW", 2)  # torch.optim.AdamW, whatever training.optim says


@dataclass
class Line:
    """One row of the table: a term, its bytes per model (policy, reward model) and when it is held."""

    term: str
    policy: float = 0.0
    reward: float = 0.0
    held: str = "always"


@dataclass
class Estimate:
    sizes: dict[str, ModelSize]
    lines: list[Line]
    gpu_gib: float
    notes: list[str] = field(default_factory=list)
    """Lines printed under the table: what the optimizer and vLLM terms hold, warnings."""
    blocking: list[str] = field(default_factory=list)
    """Why the run cannot start whatever the sum says (vLLM's KV cache), one line each."""

    def always(self) -> float:
        return sum(line.policy + line.reward for line in self.lines if line.held == "always")

    def phases(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for line in self.lines:
            if line.held != "always":
                out[line.held] = out.get(line.held, 0.0) + line.policy + line.reward
        return out

    def peak(self) -> float:
        return self.always() + max(self.phases().values(), default=0.0)


def activation_bytes(size: ModelSize, checkpointing: bool, tokens: int, dtype_bytes: int) -> tuple[int, int]:
    """(bytes kept for the backward, bytes of one layer while it is recomputed) -- see the module doc."""
    h = size.hidden_size
    layer = 6 * h + 2 * size.kv_dim + 4 * size.intermediate_size + size.lora_r * size.lora_modules
    if checkpointing:
        return tokens * (size.num_layers * h * dtype_bytes + 4 * h), tokens * layer * dtype_bytes
    return tokens * (size.num_layers * layer * dtype_bytes + 4 * h), 0


def model_lines(
    size: ModelSize, cfg: ModelConfig, opt: Optimizer, tokens: int, logits: int, phase: str, column: str
) -> tuple[list[Line], int]:
    """(the lines of one model in ``column`` (policy | reward): weights, adapters, optimizer states (always held),
    gradients, activations and logits (during ``phase``); the paged part of its optimizer states)."""
    dtype_bytes = DTYPE_BYTES[cfg.dtype]
    if cfg.load_in_4bit:
        weights = size.quantizable * NF4_BYTES + (size.params - size.quantizable) * dtype_bytes
    else:
        weights = size.params * dtype_bytes
    adapters = (size.lora + size.head) * 4  # float32: see the module doc
    train_bytes = adapters if size.lora else size.params * dtype_bytes + size.head * 4
    states, paged = optimizer_bytes(opt, size.tensors, dtype_bytes)
    kept, recomputed = activation_bytes(size, cfg.gradient_checkpointing, tokens, dtype_bytes)
    values = {
        "weights": (weights, "always"),
        "adapters + head (float32)": (adapters, "always"),
        "optimizer states" + ("" if opt.known else f" ({opt.name} unknown: as AdamW)"): (states, "always"),
        "gradients": (train_bytes, phase),
        "activations": (kept, phase),
        "logits": (logits, phase),
        "recomputed layer, beyond the logits": (max(recomputed - logits, 0), phase),
    }
    return [Line(term, held=held, **{column: value}) for term, (value, held) in values.items()], paged


def weights_label(cfg: ModelConfig) -> str:
    dtype = "bfloat16" if cfg.dtype == "auto" else cfg.dtype
    return f"nf4 + {dtype}" if cfg.load_in_4bit else dtype


def _optimizer_note(who: str, opt: Optimizer, paged: int) -> str:
    held = f"; {paged / GIB:.2f} GiB of it paged (CUDA unified memory, counted as resident)" if paged else ""
    return f"optimizer, {who}: {opt.label()}{held}"


def estimate(typed: Any, method: str, gpu_gib: float) -> Estimate:
    """The estimate of the validated run config ``typed`` of ``method`` (sft | grpo | airl)."""
    training = typed.training
    rows = training.per_device_batch_size
    sizes = {"policy": model_size(typed.model, "model")}
    policy = sizes["policy"]
    dtype_bytes = DTYPE_BYTES[typed.model.dtype]
    sampling = getattr(typed, "sampling", None)
    if method == "sft":
        tokens = rows * typed.method.max_length
        logits = tokens * policy.vocab_size * (dtype_bytes + 4)
    else:
        tokens = rows * (sampling.max_prompt_length + sampling.max_completion_length)
        # accelerate's bf16 mixed precision hands back float32 logits; float16 runs without it
        output_bytes = 2 if typed.model.dtype == "float16" else 4
        logits = policy_logits_bytes(rows, sampling.max_completion_length, policy.vocab_size, output_bytes)
    opt = optimizer(training.optim)
    lines, paged = model_lines(policy, typed.model, opt, tokens, logits, "policy update", "policy")
    notes = [_optimizer_note("policy", opt, paged)]
    if method == "airl":
        lm_prior = typed.method.reward_lm_prior
        sizes["reward"] = reward = model_size(typed.reward_model, "reward_model", reward_head=True, lm_prior=lm_prior)
        disc_rows = min(typed.method.disc_micro_batch_size, disc_rows_per_update(typed))
        disc_logits = disc_rows * sampling.max_completion_length * reward.vocab_size if lm_prior else 0
        if typed.method.implicit_prm_beta is not None:  # p_ref's logits beside the trained side's, kept for backward
            disc_logits *= 2
        disc, _ = model_lines(
            reward,
            typed.reward_model,
            DISC_OPTIMIZER,
            disc_rows * (sampling.max_prompt_length + sampling.max_completion_length),
            disc_logits * (DTYPE_BYTES[typed.reward_model.dtype] + 4),
            "disc update",
            "reward",
        )
        if typed.method.implicit_prm_beta is not None:  # p_ref: a frozen copy of the reward backbone
            lines.append(
                Line("reward reference (implicit PRM)", reward=reward.params * DTYPE_BYTES[typed.reward_model.dtype])
            )
        notes.append(_optimizer_note("reward model", DISC_OPTIMIZER, 0))
        # what both hold for the whole run shares a row; the discriminator's update is a phase of its own
        for line, other in zip(list(lines), disc):
            if other.held == "always":
                line.reward = other.reward
            else:
                lines.append(other)
    est = Estimate(sizes, lines, gpu_gib, notes)
    if method != "sft":
        _sampling_lines(typed, est, dtype_bytes)
    lines.append(Line("CUDA context, allocator (assumed)", policy=OVERHEAD_GIB * GIB))
    return est


def disc_rows_per_update(typed: Any) -> int:
    """Rows of one discriminator update (one generation batch per process): each prompt's expert trace, its perturbed
    copies and its samples (less the expert trace placed in the group), and each extra expert with its copies (with
    outcome labels: the samples alone). A forward pass holds at most ``disc_micro_batch_size`` of them."""
    m, s, t = typed.method, typed.sampling, typed.training
    prompts = max(1, t.per_device_batch_size * t.gradient_accumulation_steps // s.num_generations)
    samples = s.num_generations - (m.expert_in_group != "none")
    if m.reward_labels == "outcomes":  # the samples alone
        return prompts * samples
    return (prompts + m.disc_extra_experts) * (1 + m.perturbations_per_expert) + prompts * samples


def _sampling_lines(typed: Any, est: Estimate, dtype_bytes: int) -> None:
    """The reference model, and vLLM's share (colocate) or the KV cache of ``generate`` (no vLLM)."""
    sampling, training, policy = typed.sampling, typed.training, est.sizes["policy"]
    if typed.method.beta > 0 and not policy.lora:
        est.lines.append(Line("reference model (beta > 0)", policy=policy.params * dtype_bytes))
    if sampling.use_vllm and sampling.vllm_mode == "colocate":
        share = vllm_share(sampling, training, policy, est.gpu_gib * GIB)
        est.lines.append(Line(f"vLLM share ({sampling.vllm_gpu_memory_utilization:g} x GPU)", policy=share.share))
        est.notes += share.lines()
        blocking, slowing = share.problems(est.gpu_gib * GIB)
        est.blocking += blocking
        est.notes += [f"warning: {text}" for text in slowing]
    elif not sampling.use_vllm:
        gen_rows = training.per_device_batch_size * training.gradient_accumulation_steps
        tokens = gen_rows * (sampling.max_prompt_length + sampling.max_completion_length)
        kv = tokens * 2 * policy.num_layers * policy.kv_dim * dtype_bytes
        est.lines.append(Line("generation KV cache", policy=kv, held="sampling"))


def _count(n: float) -> str:
    if n >= 1e8:  # as the model cards write them: 0.49 B, 3.09 B
        return f"{n / 1e9:.2f} B"
    if n >= 1e6:
        return f"{n / 1e6:.1f} M"
    return f"{n / 1e3:.1f} K" if n >= 1e3 else str(int(n))


def _gib(n: float) -> str:
    return "-" if n == 0 else "<0.01" if n < 0.005 * GIB else f"{n / GIB:.2f}"


def report(typed: Any, method: str, est: Estimate) -> str:
    """The table and the one-line verdict."""
    models = {"policy": typed.model}
    if "reward" in est.sizes:
        models["reward"] = typed.reward_model
    heads = {"policy": "policy", "reward": "reward model"}
    rows = [
        ("", *(heads[k] for k in models)),
        ("model", *(cfg.name_or_path for cfg in models.values())),
        ("architecture", *(est.sizes[k].source for k in models)),
        ("parameters", *(_count(est.sizes[k].params) for k in models)),
    ]
    rows.append(
        (
            "trainable",
            *(
                f"{_count(est.sizes[k].trainable)} "
                + (f"(LoRA r={est.sizes[k].lora_r})" if est.sizes[k].lora else "(all)")
                for k in models
            ),
        )
    )
    rows.append(("weights", *(weights_label(cfg) for cfg in models.values())))
    rows.append(("gradient checkpointing", *("on" if cfg.gradient_checkpointing else "off" for cfg in models.values())))
    width = max(len(cell) for row in rows for cell in row[1:]) + 2
    first = max(len(r[0]) for r in rows + [(line.term,) for line in est.lines]) + 2
    out = [
        f"plan: {method}, {typed.run_name}, one GPU of {est.gpu_gib:g} GiB, "
        f"batch {typed.training.per_device_batch_size} rows" + _lengths(typed, method)
    ]
    out += [r[0].ljust(first) + "".join(c.ljust(width) for c in r[1:]) for r in rows]
    out.append("")
    out.append("memory, GiB".ljust(first) + "".join(heads[k].ljust(14) for k in models) + "held")
    for line in est.lines:
        values = [line.policy] + ([line.reward] if "reward" in models else [])
        out.append(line.term.ljust(first) + "".join(_gib(v).ljust(14) for v in values) + line.held)
    out += est.notes
    phases = est.phases()
    worst = max(phases, key=phases.get) if phases else None
    peak = est.peak()
    out.append(
        f"peak: always {est.always() / GIB:.2f}"
        + (f" + {worst} {phases[worst] / GIB:.2f}" if worst else "")
        + f" = {peak / GIB:.2f} GiB"
    )
    share = peak / (est.gpu_gib * GIB)
    if est.blocking:
        out.append("verdict: does not fit: " + "; ".join(est.blocking))
    else:
        out.append(
            f"verdict: {'fits' if share <= 1 else 'does not fit'}: about {peak / GIB:.1f} of {est.gpu_gib:g} GiB "
            f"({share:.0%})" + ("" if share <= 1 else "; try " + " or ".join(_remedies(typed, models)))
        )
    return "\n".join(text.rstrip() for text in out)


def _remedies(typed: Any, models: dict[str, ModelConfig]) -> list[str]:
    """The settings that would lower the estimate and are not in use yet."""
    sections = {"policy": "model", "reward": "reward_model"}
    out = [f"{sections[k]}.gradient_checkpointing=true" for k, cfg in models.items() if not cfg.gradient_checkpointing]
    if optimizer(typed.training.optim).bits != 8:
        out.append("training.optim=paged_adamw_8bit")
    sampling = getattr(typed, "sampling", None)
    colocated = sampling is not None and sampling.use_vllm and sampling.vllm_mode == "colocate"
    # a 4-bit policy is refused with vLLM (the run's check_vllm)
    if typed.model.lora is not None and not typed.model.load_in_4bit and not (sampling and sampling.use_vllm):
        out.append("model.load_in_4bit=true")
    if colocated:
        out.append("a lower sampling.vllm_gpu_memory_utilization (its KV cache must still hold what vLLM needs)")
    return out + ["a smaller training.per_device_batch_size"]


def _lengths(typed: Any, method: str) -> str:
    if method == "sft":
        return f" of {typed.method.max_length} tokens"
    s = typed.sampling
    vllm = f", vLLM {s.vllm_mode}" if s.use_vllm else ""
    return f" of {s.max_prompt_length}+{s.max_completion_length} tokens{vllm}"


def plan(resolved: dict, schema: type, method: str) -> str:
    """The plan of a composed, resolved run config (the run config's checks run, the model / sampling combinations
    a run refuses are refused alike; its run folder and this machine are not looked at)."""
    from reasoning_irl.training.setup import validated_run_config

    typed = validated_run_config(resolved, schema, method, on_this_machine=False)  # the run's refusals and words
    if not math.isfinite(typed.plan_gpu_gb) or typed.plan_gpu_gb <= 0:
        raise ConfigError(f"plan_gpu_gb must be > 0, got {typed.plan_gpu_gb}")
    return report(typed, method, estimate(typed, method, typed.plan_gpu_gb))
