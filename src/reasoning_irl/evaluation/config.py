"""Typed configs of ``evaluate.py`` (policy evaluation) and ``evaluate_irl.py`` (reward-model diagnostics).

Both compose like the training scripts (``experiment=tiny_airl`` etc.), so a preset's ``model`` and
``dataset`` sections (system prompt included) are the ones the policy was trained with. The
training-only sections a preset brings along (``training``, ``method``, ``logging``, the
``reward_model`` backbone group, ``run_name``) are accepted and ignored.

On the command line ``reward_model=<folder>`` (not a ``configs/reward_model`` preset name) is read as
``reward_model_path=<folder>`` (see :func:`rewrite_reward_model_arg`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from reasoning_irl.config import ConfigError, config_dir, validate
from reasoning_irl.evaluation.output_dir import register_resolver
from reasoning_irl.evaluation.search import SearchConfig
from reasoning_irl.models.config import ModelConfig

register_resolver()  # before Hydra composes configs/evaluate*.yaml, whose run folder is ${eval_output_dir:...}


@dataclass
class EvalSampling:
    num_samples: int = 8
    """N: completions sampled per problem (every metric is over these N)."""
    greedy: bool = True
    """Also decode one greedy completion per problem (greedy_accuracy)."""
    temperature: float = 1.0
    """Sampling temperature (> 0)."""
    top_p: float = 0.95
    """Nucleus sampling mass in (0, 1]."""
    max_new_tokens: Optional[int] = None
    """Most tokens generated per completion; null = max_completion_length."""
    batch_size: int = 16
    """Sequences per HF generate call."""
    use_vllm: bool = False
    """Generate with vLLM (CUDA GPU only)."""
    vllm_gpu_memory_utilization: float = 0.9
    """Fraction of GPU memory vLLM may take."""
    # Keys of the training presets' sampling section: accepted so experiment=... composes.
    max_completion_length: int = 824
    """Training presets' generation length; the default of max_new_tokens."""
    num_generations: int = 16
    """(training presets) ignored here."""
    max_prompt_length: int = 300
    """(training presets) ignored here."""
    min_completion_length: int = 0
    """(training presets) ignored here."""
    vllm_mode: str = "colocate"
    """(training presets) ignored here."""
    vllm_server_host: str = "127.0.0.1"
    """(training presets) ignored here."""
    vllm_server_port: int = 8000
    """(training presets) ignored here."""

    @property
    def new_tokens(self) -> int:
        return self.max_new_tokens if self.max_new_tokens is not None else self.max_completion_length

    def check(self) -> None:
        if self.num_samples < 1:
            raise ConfigError(f"sampling.num_samples must be >= 1, got {self.num_samples}")
        if self.temperature <= 0:
            raise ConfigError(f"sampling.temperature must be > 0, got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise ConfigError(f"sampling.top_p must be in (0, 1], got {self.top_p}")
        if self.new_tokens < 1 or self.batch_size < 1:
            raise ConfigError("sampling.max_new_tokens and sampling.batch_size must be >= 1")


def _check_selectors(names: list[str], where: str) -> None:
    from reasoning_irl.evaluation.selectors import SELECTORS

    for name in names:
        if name not in SELECTORS.names():
            raise ConfigError(f"{where}: unknown selector {name!r}; choose from: {', '.join(SELECTORS.names())}")


def _check_file(path: Optional[str], where: str) -> None:
    if path is not None and not Path(path).expanduser().is_file():
        raise ConfigError(f"{where}: {path} does not exist")


def _check_reward_model(path: Optional[str], where: str = "reward_model_path") -> None:
    if path is None:
        return
    if not Path(path).expanduser().is_dir():
        raise ConfigError(f"{where}: {path} does not exist")
    from reasoning_irl.models.reward_model import read_metadata

    read_metadata(path)


@dataclass
class EvalConfig:
    policy: Optional[str] = None
    """Policy to evaluate: adapter folder (run final/ or checkpoint-N/), run folder, model folder or hub id;
    null = the base model of the model section."""
    reward_model_path: Optional[str] = None
    """Saved token reward model folder (e.g. <airl run>/reward_model); null = verifiable metrics only."""
    rescore_from: Optional[str] = None
    """An existing eval_results.jsonl: rescore its completions with the reward model, no sampling."""
    split: str = "test"
    """Dataset split to evaluate on."""
    num_problems: Optional[int] = None
    """First n problems of the split; null = all."""
    seed: int = 0
    """Sampling seed (per problem and sample) and bootstrap seed."""
    ks: list[int] = field(default_factory=lambda: [1, 4, 8])
    """k of pass@k, maj@k, random@k and success@k (ks above N are skipped)."""
    selectors: list[str] = field(default_factory=lambda: ["sum", "mean", "min", "last", "discounted_answer"])
    """Rerank selectors of the reward model's token rewards."""
    gamma: float = 0.9
    """Discount of the discounted selectors."""
    reward_temperature: float = 1.0
    """Token reward = logit / reward_temperature (as in AIRL training)."""
    reward_batch_size: int = 32
    """Rows per reward-model forward."""
    dtype: str = "auto"
    """Policy / reward model dtype: auto | float32 | bfloat16 | float16."""
    progress: bool = True
    """Show tqdm progress bars."""
    output_dir: Optional[str] = None
    """Where eval_results.jsonl, eval_summary.json and eval_table.md are written; null = derived from the policy
    (<output_root>/eval/<policy name>-<split>) or, with rescore_from, <its folder>-rescored (see evaluation.output_dir)."""
    overwrite: bool = False
    """Write into an output_dir that already holds files (else refused, so earlier results are never lost)."""
    output_root: str = "outputs"
    """Root of the default output_dir (and of run folders, for naming the policy)."""
    artifacts_dir: str = "artifacts"
    """Where project-built tiny models live (tiny adapter bases are looked up here)."""
    model: ModelConfig = field(default_factory=ModelConfig)
    """Base model (of an adapter whose run config is missing, and the policy when policy is null)."""
    dataset: Any = None
    """Dataset section (validated by its own dataset schema)."""
    sampling: EvalSampling = field(default_factory=EvalSampling)
    """Sampling settings."""
    search: SearchConfig = field(default_factory=SearchConfig)
    """Reward-guided search (method none = plain evaluation); see reasoning_irl.evaluation.search."""
    run_name: Optional[str] = None
    """(training presets) ignored (the default output_dir is named after what is evaluated)."""
    training: Any = None
    """(training presets) ignored."""
    method: Any = None
    """(training presets) ignored."""
    logging: Any = None
    """(training presets) ignored."""
    reward_model: Any = None
    """(training presets) the AIRL reward backbone group; ignored (use reward_model_path)."""

    def check(self) -> None:
        if self.num_problems is not None and self.num_problems < 1:
            raise ConfigError(f"num_problems must be >= 1 or null, got {self.num_problems}")
        if not self.ks or any(k < 1 for k in self.ks):
            raise ConfigError(f"ks must be a non-empty list of integers >= 1, got {self.ks}")
        if not self.rescore_from and max(self.ks) > self.sampling.num_samples:
            raise ConfigError(f"ks {self.ks} exceed sampling.num_samples={self.sampling.num_samples}")
        if not 0 <= self.gamma <= 1:
            raise ConfigError(f"gamma must be in [0, 1], got {self.gamma}")
        if self.reward_temperature <= 0 or self.reward_batch_size < 1:
            raise ConfigError("reward_temperature must be > 0 and reward_batch_size >= 1")
        _check_selectors(self.selectors, "selectors")
        _check_file(self.rescore_from, "rescore_from")
        if self.rescore_from and self.reward_model_path is None:
            raise ConfigError("rescore_from needs reward_model_path (the reward model to rescore with)")
        _check_reward_model(self.reward_model_path)
        if self.search.method != "none" and (self.reward_model_path is None or self.rescore_from or self.sampling.use_vllm):
            raise ConfigError(f"search.method={self.search.method} needs reward_model_path, and works without "
                              "rescore_from and with sampling.use_vllm=false")
        if self.policy is not None and self.policy.startswith((".", "/", "~")) and not Path(self.policy).expanduser().exists():
            raise ConfigError(f"policy: {self.policy} does not exist")


@dataclass
class IRLEvalConfig:
    reward_model_path: Optional[str] = None
    """Saved token reward model folder (required)."""
    split: str = "test"
    """Dataset split whose expert traces are scored."""
    num_problems: Optional[int] = None
    """First n problems of the split; null = all."""
    seed: int = 0
    """Seed of the perturbations (per problem) and of the bootstrap."""
    perturbations: list[str] = field(default_factory=lambda: ["flip_operator", "shift_answer", "swap_answer",
                                                              "corrupt_numbers"])
    """Perturbation kinds drawn for each expert trace."""
    perturbations_per_trace: int = 4
    """K: perturbed copies per expert trace (fewer when a kind cannot change the text)."""
    samples_from: Optional[str] = None
    """An eval_results.jsonl: also AUROC of sequence scores, correct vs wrong samples, per selector."""
    selectors: list[str] = field(default_factory=lambda: ["sum", "mean", "min", "last", "discounted_answer"])
    """Sequence scores reported (pairwise accuracy per selector, samples AUROC)."""
    gamma: float = 0.9
    """Discount of the discounted selectors."""
    reward_temperature: float = 1.0
    """Token reward = logit / reward_temperature."""
    reward_batch_size: int = 32
    """Rows per reward-model forward."""
    dtype: str = "auto"
    """Reward model dtype: auto | float32 | bfloat16 | float16."""
    output_dir: Optional[str] = None
    """Where irl_diagnostics.json/.md and irl_traces.jsonl are written; null = derived from the reward model
    (<output_root>/eval_irl/<reward model name>-<split>, see evaluation.output_dir)."""
    overwrite: bool = False
    """Write into an output_dir that already holds files (else refused, so earlier results are never lost)."""
    output_root: str = "outputs"
    """Root of the default output_dir (and of run folders, for naming the reward model)."""
    artifacts_dir: str = "artifacts"
    """(presets) where tiny models live."""
    dataset: Any = None
    """Dataset section (validated by its own dataset schema)."""
    run_name: Optional[str] = None
    """(training presets) ignored (the default output_dir is named after what is evaluated)."""
    model: Any = None
    """(training presets) ignored."""
    sampling: Any = None
    """(training presets) ignored."""
    training: Any = None
    """(training presets) ignored."""
    method: Any = None
    """(training presets) ignored."""
    logging: Any = None
    """(training presets) ignored."""
    reward_model: Any = None
    """(training presets) the AIRL reward backbone group; ignored (use reward_model_path)."""

    def check(self) -> None:
        from reasoning_irl.rewards import PERTURBATIONS

        if self.reward_model_path is None:
            raise ConfigError("reward_model_path is required (a saved reward model folder, e.g. <airl run>/reward_model)")
        _check_reward_model(self.reward_model_path)
        if self.num_problems is not None and self.num_problems < 1:
            raise ConfigError(f"num_problems must be >= 1 or null, got {self.num_problems}")
        for name in self.perturbations:
            if name not in PERTURBATIONS.names():
                raise ConfigError(f"perturbations: unknown {name!r}; choose from: {', '.join(PERTURBATIONS.names())}")
        if self.perturbations_per_trace < 1:
            raise ConfigError("perturbations_per_trace must be >= 1")
        if not 0 <= self.gamma <= 1 or self.reward_temperature <= 0 or self.reward_batch_size < 1:
            raise ConfigError("gamma must be in [0, 1], reward_temperature > 0, reward_batch_size >= 1")
        _check_selectors(self.selectors, "selectors")
        _check_file(self.samples_from, "samples_from")


def typed_config(cfg: Any, schema: type) -> tuple[Any, Any, dict]:
    """(typed config, validated dataset section, resolved plain dict) of a composed config."""
    from omegaconf import DictConfig, OmegaConf

    from reasoning_irl.data import dataset_config

    resolved = OmegaConf.to_container(cfg, resolve=True) if isinstance(cfg, DictConfig) else dict(cfg)
    resolved.pop("hydra", None)
    typed = validate(resolved, schema, "config")
    dataset = dataset_config(resolved.get("dataset") or {"name": "synthetic"})
    return typed, dataset, resolved


def reward_model_presets() -> set[str]:
    folder = config_dir() / "reward_model"
    return {p.stem for p in folder.glob("*.yaml")} if folder.is_dir() else set()


def rewrite_reward_model_arg(argv: list[str]) -> list[str]:
    """``reward_model=<folder>`` -> ``reward_model_path=<folder>`` unless it names a reward_model preset."""
    presets = reward_model_presets()
    out = []
    for arg in argv:
        key, sep, value = arg.partition("=")
        if sep and key == "reward_model" and value not in presets and value not in ("null", ""):
            arg = f"reward_model_path={value}"
        out.append(arg)
    return out


def finite(x: float) -> Optional[float]:
    """JSON-safe float: NaN/inf -> None."""
    return float(x) if x is not None and math.isfinite(x) else None
