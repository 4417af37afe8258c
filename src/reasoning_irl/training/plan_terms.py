"""The plan's terms that follow one library's own allocation (see :mod:`reasoning_irl.training.plan` for the rest):
the optimizer's states, as the transformers optimizer name picks them, and vLLM's share of the GPU in TRL's
colocate mode.

Optimizer states (transformers 5.17 ``Trainer.create_optimizer``, bitsandbytes 0.50.2 ``optim/optimizer.py``):

- torch optimizers (``adamw_torch``, ``adamw_torch_fused``, ``adagrad``, ``rmsprop``, ``sgd``): each state is
  ``zeros_like(param)``, in the parameter's dtype: AdamW 2 states, Adagrad and RMSprop 1, SGD without momentum 0.
- bitsandbytes (every name transformers hands to ``_get_bitsandbytes_optimizer``): AdamW keeps 2 states, Lion and
  RMSprop 1, AdEMAMix 3 (its first state is a double buffer). ``8bit`` in the name: each state is one uint8 per
  value plus one float32 absmax per block of 256 values (blockwise dynamic quantisation), except for tensors of
  fewer than ``min_8bit_size`` = 4096 values (transformers keeps the default) and for ``nn.Embedding`` weights
  (transformers registers a 32-bit override for them), which keep float32 states. Otherwise states are float32
  whatever the parameter's dtype. ``paged`` in the name: a state of a tensor of at least 1e5 values lives in CUDA
  unified memory (``cudaMallocManaged``) that the driver may move to host memory when the GPU runs short, and that
  torch's allocator does not see (``torch.cuda.max_memory_allocated`` leaves it out). The plan counts it as resident
  on the GPU, as it is at every optimizer step (bitsandbytes prefetches it there), and says how much of it is paged.
- any other name: counted as float32 AdamW (8 bytes per parameter), and the report says so.

vLLM, colocated (TRL 1.15 ``VLLMGeneration`` builds ``LLM(gpu_memory_utilization=..., max_model_len=
args.vllm_max_model_length, max_num_seqs=per_device_train_batch_size x steps_per_generation,
max_num_batched_tokens=4096)`` in the training process, no sleep mode): vLLM 0.31 reserves ``ceil(utilization x
the GPU's memory)`` bytes (``request_memory``; it refuses to start when less is free) and fills it with
(``Worker.determine_available_memory``): its own bf16 copy of the weights; the peak of a profile forward of
``max_num_batched_tokens`` tokens; CUDA graphs and workspaces, which it measures at start; the KV cache, all that is
left. It refuses to start when that KV cache cannot hold one sequence of ``max_model_len`` tokens
(``check_enough_kv_cache_memory``). The project passes ``vllm_max_model_length`` = max_prompt_length +
max_completion_length (without it vLLM would take the model's ``max_position_embeddings``). KV bytes per token: 2 (K, V) x layers x K/V width x 2 (bf16), allocated in blocks of
16 tokens. When the cache holds fewer than one generation's sequences at once, vLLM queues the rest: it runs,
slower. With ``vllm_mode=server`` nothing of vLLM is on the training GPU.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from reasoning_irl.models.plan import ModelSize, Trainable

GIB = 2**30

# bitsandbytes 0.50.2: Optimizer2State/Optimizer1State.init_state and Optimizer8bit.get_state_buffer
BNB_BLOCK = 256
BNB_MIN_8BIT_SIZE = 4096
BNB_PAGED_MIN = 100_000

# transformers 5.17 trainer_optimizer._BITSANDBYTES_OPTIMIZERS (pinned by a test)
BNB_NAMES = frozenset(
    {
        "adamw_bnb_8bit",
        "adamw_8bit",
        "paged_adamw_32bit",
        "paged_adamw_8bit",
        "ademamix",
        "ademamix_8bit",
        "paged_ademamix_32bit",
        "paged_ademamix_8bit",
        "lion_32bit",
        "lion_8bit",
        "paged_lion_32bit",
        "paged_lion_8bit",
        "rmsprop_bnb",
        "rmsprop_bnb_8bit",
        "rmsprop_bnb_32bit",
    }
)
TORCH_STATES = {"adamw_torch": 2, "adamw_torch_fused": 2, "adagrad": 1, "rmsprop": 1, "sgd": 0}

# vLLM in TRL 1.15's colocate mode
VLLM_BATCHED_TOKENS = 4096  # TRL's max_num_batched_tokens: the profile forward's size
VLLM_BLOCK_TOKENS = 16  # vLLM's KV cache block size on CUDA
VLLM_GRAPHS_GIB = 1.0  # CUDA graphs and workspaces: vLLM measures them at start; an assumption here


@dataclass(frozen=True)
class Optimizer:
    """How an optimizer keeps its states."""

    name: str
    states: int
    bits: int = 0
    """0: a torch optimizer (states in the parameter's dtype); 8 or 32: bitsandbytes."""
    paged: bool = False
    known: bool = True

    def label(self) -> str:
        if not self.known:
            return f"{self.name}: unknown to the plan, counted as float32 AdamW"
        if not self.bits:
            return f"{self.name} (torch): {self.states} states in the parameters' dtype"
        each = "1 byte + a float32 absmax per 256 values" if self.bits == 8 else "float32"
        return f"{self.name} (bitsandbytes{', paged' if self.paged else ''}): {self.states} states, {each}"


def optimizer(name: str) -> Optimizer:
    """The state format of the transformers optimizer ``name`` (a TrainingArguments ``optim`` value)."""
    if name in TORCH_STATES:
        return Optimizer(name, TORCH_STATES[name])
    if name in BNB_NAMES:
        # transformers' own dispatch: the class by substring, "paged" and "8bit" from the name
        states = 2 if "adam" in name else 3 if "ademamix" in name else 1
        return Optimizer(name, states, bits=8 if "8bit" in name else 32, paged="paged" in name)
    return Optimizer(name, 2, bits=32, known=False)


def optimizer_bytes(opt: Optimizer, tensors: Iterable[Trainable], dtype_bytes: int) -> tuple[int, int]:
    """(bytes of every state, of which paged) for the trainable ``tensors``; a base weight's dtype has
    ``dtype_bytes`` bytes, adapters and head are float32."""
    total = paged = 0
    for t in tensors:
        if not opt.bits:
            size = opt.states * t.numel * (4 if t.added else dtype_bytes)
        elif opt.bits == 8 and t.numel >= BNB_MIN_8BIT_SIZE and not t.embedding:
            blocks = -(-t.numel // BNB_BLOCK)
            size = opt.states * t.numel  # uint8 states
            paged += size if opt.paged and t.numel >= BNB_PAGED_MIN else 0
            size += opt.states * blocks * 4  # absmax, never paged
        else:
            size = opt.states * t.numel * 4
            paged += size if opt.paged and t.numel >= BNB_PAGED_MIN else 0
        total += size
    return total, paged


def policy_logits_bytes(rows: int, completion: int, vocab: int, output_bytes: int) -> int:
    """The policy update's log-probabilities (:func:`reasoning_irl.training.policy_loss.completion_logps`): the
    model's logits of the last ``completion + 1`` positions as the prepared model returns them (accelerate's bf16
    mixed precision converts outputs to float32: ``output_bytes`` 4), every row's float32 logits that the
    log-softmax keeps for the backward, and one row's float32 temporary inside ``logsumexp``."""
    return (rows * (completion + 1) * output_bytes + rows * completion * 4 + completion * 4) * vocab


@dataclass
class VllmShare:
    """vLLM's share of the GPU in colocate mode, as vLLM fills it (module doc)."""

    share: float
    weights: float
    activations: float
    graphs: float
    kv_token: int
    """KV cache bytes of one token."""
    max_model_len: int
    """Tokens of one sequence at most: max_prompt_length + max_completion_length (grpo_arguments passes it)."""
    generation: int
    """Sequences TRL hands vLLM at once (``max_num_seqs``)."""

    @property
    def kv_left(self) -> float:
        return self.share - self.weights - self.activations - self.graphs

    def blocks_bytes(self, tokens: int) -> int:
        return -(-tokens // VLLM_BLOCK_TOKENS) * VLLM_BLOCK_TOKENS * self.kv_token

    @property
    def start_need(self) -> int:
        return self.blocks_bytes(self.max_model_len)

    @property
    def generation_need(self) -> int:
        return self.generation * self.blocks_bytes(self.max_model_len)

    def least_utilization(self, gpu: float) -> float:
        """The smallest share (two decimals) whose KV cache holds one max_model_len sequence."""
        return math.ceil((self.weights + self.activations + self.graphs + self.start_need) / gpu * 100) / 100

    def problems(self, gpu: float) -> tuple[list[str], list[str]]:
        """(what keeps the run from starting, what only slows it), one line each."""
        left, blocking, slowing = max(self.kv_left, 0.0), [], []
        if left < self.start_need:
            blocking.append(
                f"vLLM refuses to start: its share leaves {left / GIB:.2f} GiB of KV cache, less than one sequence "
                f"of max_model_len {self.max_model_len} tokens ({self.start_need / GIB:.2f} GiB); "
                f"sampling.vllm_gpu_memory_utilization needs at least {self.least_utilization(gpu):.2f}"
            )
        elif left < self.generation_need:
            fits = int(left // self.blocks_bytes(self.max_model_len))
            slowing.append(
                f"vLLM's KV cache ({left / GIB:.2f} GiB) holds {fits} of the {self.generation} sequences of one "
                f"generation at once; it queues the rest (slower)"
            )
        return blocking, slowing

    def lines(self) -> list[str]:
        return [
            f"vLLM share {self.share / GIB:.2f} GiB: weights {self.weights / GIB:.2f} (bf16), profile forward "
            f"{self.activations / GIB:.2f}, CUDA graphs and workspaces {self.graphs / GIB:.2f} (assumed), "
            f"KV cache {self.kv_left / GIB:.2f} = {max(self.kv_left, 0) / self.kv_token:,.0f} tokens",
            f"vLLM KV cache needs: one sequence of max_model_len {self.max_model_len} tokens to start "
            f"({self.start_need / GIB:.2f} GiB); {self.generation} x {self.max_model_len} tokens for one generation "
            f"at once ({self.generation_need / GIB:.2f} GiB)",
        ]


def vllm_share(sampling: Any, training: Any, size: ModelSize, gpu_bytes: float) -> VllmShare:
    """What vLLM's colocated share holds for the policy ``size`` on a GPU of ``gpu_bytes`` (module doc)."""
    # the profile forward's widest point: one layer's MLP input, gate+up output and activation output
    activations = VLLM_BATCHED_TOKENS * (size.hidden_size + 3 * size.intermediate_size) * 2
    return VllmShare(
        share=math.ceil(sampling.vllm_gpu_memory_utilization * gpu_bytes),
        weights=size.params * 2,
        activations=activations,
        graphs=VLLM_GRAPHS_GIB * GIB,
        kv_token=2 * size.num_layers * size.kv_dim * 2,
        max_model_len=sampling.max_prompt_length + sampling.max_completion_length,  # grpo_arguments' value
        generation=training.per_device_batch_size * training.gradient_accumulation_steps,
    )
