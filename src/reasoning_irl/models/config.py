"""Typed config of a model to load (policy or reward-model backbone)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from reasoning_irl.config import ConfigError

# unsloth's GRPO fast path replaces TRL's trainer and config classes by its own patched ones (and needs its config's
# extra fields); the project's trainers subclass TRL's and own their loss, and AIRL puts the expert trace into TRL-side
# generation, so no unsloth path of the pinned versions runs them. docs/scaling_out.md, "One GPU".
UNSLOTH_REFUSED = (
    "model.backend=unsloth is not supported (unsloth's GRPO path replaces the TRL trainer the project's trainers "
    "build on); the one-GPU recipe is model.backend=hf with sampling.use_vllm=true, see docs/scaling_out.md"
)


@dataclass
class LoraSettings:
    r: int = 16
    """LoRA rank."""
    alpha: int = 32
    """LoRA scaling alpha."""
    dropout: float = 0.0
    """Dropout on the LoRA path."""
    target_modules: list[str] = field(
        default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
    )
    """Module names that receive adapters (the attention and MLP projections of Qwen2/Llama)."""

    def check(self) -> None:
        if self.r < 1 or not self.alpha > 0 or not 0.0 <= self.dropout < 1.0:
            raise ConfigError(
                f"lora.r must be >= 1, lora.alpha > 0 and lora.dropout in [0, 1), "
                f"got r={self.r}, alpha={self.alpha}, dropout={self.dropout}"
            )
        if not self.target_modules:
            raise ConfigError("lora.target_modules must name at least one module")


@dataclass
class TinySpec:
    arch: str = "qwen2"
    """qwen2 | llama: the architecture of a project-built tiny model."""
    preset: str = "policy"
    """policy | reward (a size preset), or a kept architecture: configs/architectures/<name>.json."""


@dataclass
class ModelConfig:
    name_or_path: str = "Qwen/Qwen2.5-0.5B-Instruct"
    """Hub id or local folder of a causal LM checkpoint (one code path for both)."""
    tiny: Optional[TinySpec] = None
    """If set, name_or_path is a project-built tiny model, built there on first use."""
    backend: str = "auto"
    """auto | hf: transformers + peft (auto is the same; unsloth is refused, see UNSLOTH_REFUSED)."""
    dtype: str = "auto"
    """auto | float32 | bfloat16 | float16. auto: float32 on CPU, bfloat16 on a GPU that supports it."""
    lora: Optional[LoraSettings] = field(default_factory=LoraSettings)
    """LoRA adapter settings; null trains the full model."""
    load_in_4bit: bool = False
    """Quantise the base weights to 4 bits (bitsandbytes, GPU only)."""
    gradient_checkpointing: bool = False
    """Trade compute for memory in the backward pass."""
    init_adapter: Optional[str] = None
    """Start from this saved LoRA adapter (e.g. an SFT run's final/) instead of a fresh one."""
    gguf_file: Optional[str] = None
    """A local GGUF file (llama.cpp's format): dequantised once into the folder name_or_path names, loaded from there."""

    def check(self) -> None:
        if self.backend == "unsloth":
            raise ConfigError(UNSLOTH_REFUSED)
        if self.backend not in ("auto", "hf"):
            raise ConfigError(f"model.backend must be auto or hf, got {self.backend!r}")
        if self.dtype not in ("auto", "float32", "bfloat16", "float16"):
            raise ConfigError(f"model.dtype must be auto, float32, bfloat16 or float16, got {self.dtype!r}")
        if self.init_adapter and not Path(self.init_adapter).is_dir():
            raise ConfigError(f"model.init_adapter: {self.init_adapter} does not exist")
        if self.load_in_4bit and self.lora is None:
            raise ConfigError("model.load_in_4bit needs model.lora: a 4-bit base can only train adapters")
        if self.gguf_file is not None:
            if self.tiny is not None:
                raise ConfigError("model.gguf_file and model.tiny both set: a model is built or converted, not both")
            from reasoning_irl.models.gguf import check_gguf_file

            check_gguf_file(self.gguf_file)
        if self.tiny is None:
            check_not_gguf(self.name_or_path)


def check_not_gguf(name_or_path: str) -> None:
    """A GGUF file (llama.cpp's format) is no checkpoint transformers trains: refused in one line, not in the
    loader's traceback."""
    path = Path(name_or_path).expanduser()
    if path.is_dir() and not (path / "config.json").is_file() and not (path / "adapter_config.json").is_file():
        found = sorted(path.glob("*.gguf"))
        path = found[0] if found else path
    if path.is_file() and path.suffix == ".gguf":
        raise ConfigError(
            f"name_or_path: {path} is a GGUF file, which transformers does not train: give it as gguf_file=<file> "
            "with name_or_path=<a new folder> (converted there once), or give the original model's hub id or folder"
        )


# How training samples completions (GRPO, AIRL); evaluation falls back on the same defaults, so it lives below both.
@dataclass
class SamplingConfig:
    num_generations: int = 16
    """Completions sampled per prompt (the GRPO group size)."""
    temperature: float = 1.0
    """Sampling temperature."""
    top_p: float = 0.95
    """Nucleus sampling mass."""
    max_prompt_length: int = 300
    """Prompts longer than this many tokens are dropped from training (counted and reported)."""
    max_completion_length: int = 824
    """Most tokens generated per completion."""
    min_completion_length: int = 0
    """Generate at least this many tokens (EOS suppressed before); benchmarks use it for equal lengths."""
    use_vllm: bool = False
    """Generate with vLLM (GPU only)."""
    vllm_mode: str = "colocate"
    """colocate (vLLM shares the training GPU) | server (a separate `trl vllm-serve` process)."""
    vllm_gpu_memory_utilization: float = 0.3
    """Fraction of GPU memory vLLM may take in colocate mode."""
    vllm_server_host: str = "127.0.0.1"
    """Host of the vLLM server in server mode."""
    vllm_server_port: int = 8000
    """Port of the vLLM server in server mode."""

    def check(self) -> None:
        if not self.temperature > 0 or not 0 < self.top_p <= 1:
            raise ConfigError(
                f"sampling.temperature must be > 0 (the group needs varied samples) and sampling.top_p in (0, 1], "
                f"got {self.temperature} and {self.top_p}"
            )
        if self.max_prompt_length < 1 or self.max_completion_length < 1:
            raise ConfigError(
                f"sampling.max_prompt_length and sampling.max_completion_length must be >= 1, "
                f"got {self.max_prompt_length} and {self.max_completion_length}"
            )
        if not 0 <= self.min_completion_length <= self.max_completion_length:
            raise ConfigError("sampling.min_completion_length must be in [0, max_completion_length]")
        if self.num_generations < 2:
            raise ConfigError("sampling.num_generations must be >= 2 (group-relative advantages need a group)")
        if self.vllm_mode not in ("colocate", "server"):
            raise ConfigError(f"sampling.vllm_mode must be colocate or server, got {self.vllm_mode!r}")
