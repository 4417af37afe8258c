"""Typed configs of ``evaluate.py`` (policy evaluation) and ``evaluate_irl.py`` (reward-model diagnostics).

Both inherit :class:`EvalCommon`: what they share, the reward scoring keys included
(:class:`~reasoning_irl.evaluation.reward_scoring.RewardScoring`, which the scoring command inherits too).

What the evaluated run was trained with comes from its own ``config.yaml`` (written by training into the run
folder; found beside or above ``policy`` or ``reward_model_path``): the dataset section (system prompt included) when no
``dataset=<name>`` is given, the system prompt when the given dataset section has none, and for ``evaluate.py``
the sampling temperature, top_p and length (``sampling.*: null``). Anything set on the command line wins; what was
taken is printed in one line (:func:`apply_run_config`).

A saved reward model is ``reward_model_path=<folder>``: ``reward_model`` is the training scripts' config group (the
discriminator backbone) in the same ``configs/`` folder, and Hydra reads ``<group>=<value>`` as a group choice
whatever the primary config (the entry check refuses ``reward_model=`` here in one line).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from reasoning_irl.config import ConfigError, validate
from reasoning_irl.evaluation.output_dir import register_resolver
from reasoning_irl.evaluation.reward_scoring import RewardScoring
from reasoning_irl.evaluation.search import SearchConfig
from reasoning_irl.models.config import ModelConfig, SamplingConfig

register_resolver()  # before Hydra composes configs/evaluate*.yaml, whose run folder is ${eval_output_dir:...}


@dataclass
class EvalSampling:
    num_samples: int = 8
    """N: completions sampled per problem (every metric is over these N); 0 with greedy=true: the greedy completion
    alone (greedy_accuracy and the probes of the greedy output; no pass@k)."""
    greedy: bool = True
    """Also decode one greedy completion per problem (greedy_accuracy)."""
    temperature: Optional[float] = None
    """Sampling temperature (> 0); null = the evaluated run's sampling.temperature (else the training default)."""
    top_p: Optional[float] = None
    """Nucleus sampling mass in (0, 1]; null = the evaluated run's sampling.top_p (else the training default)."""
    max_new_tokens: Optional[int] = None
    """Most tokens generated per completion; null = the evaluated run's sampling.max_completion_length (else the
    training default)."""
    batch_size: int = 64
    """Sequences per HF generate call (every row samples from its own seeded generator, so the size changes speed,
    not the draws: the demo's four evaluations came out byte-identical at 16 and 64, SFT's also at 32, 48, 96 and
    128; on the CPU 64 takes 23-25 s where 16 takes 30-32 s)."""
    use_vllm: bool = False
    """Generate with vLLM (CUDA GPU only)."""
    vllm_gpu_memory_utilization: float = 0.9
    """Fraction of GPU memory vLLM may take."""

    @property
    def new_tokens(self) -> int:
        return self.max_new_tokens if self.max_new_tokens is not None else _training_sampling().max_completion_length

    def check(self) -> None:
        # null keys not filled from a run's config.yaml (a base model, a hub id) take the training defaults
        for key in ("temperature", "top_p"):
            if getattr(self, key) is None:
                setattr(self, key, getattr(_training_sampling(), key))
        if self.num_samples < 0 or (self.num_samples == 0 and not self.greedy):
            raise ConfigError(
                f"sampling.num_samples must be >= 1 (or 0 with sampling.greedy=true), got {self.num_samples}"
            )
        if self.temperature <= 0:
            raise ConfigError(f"sampling.temperature must be > 0, got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise ConfigError(f"sampling.top_p must be in (0, 1], got {self.top_p}")
        if self.new_tokens < 1 or self.batch_size < 1:
            raise ConfigError("sampling.max_new_tokens and sampling.batch_size must be >= 1")


def _training_sampling() -> Any:
    return SamplingConfig()


def _all_perturbations() -> list[str]:
    from reasoning_irl.rewards import PERTURBATIONS

    return PERTURBATIONS.registered()


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
class EvalCommon(RewardScoring):
    """The keys evaluate.py and evaluate_irl.py share (besides the reward scoring ones they inherit)."""

    split: str = "test"
    """Dataset split evaluated (evaluate_irl.py: whose expert traces are scored)."""
    num_problems: Optional[int] = None
    """First n problems of the split; null = all."""
    seed: int = 0
    """Seed of the per-problem draws (evaluate.py: each sample; evaluate_irl.py: the perturbations) and of the
    bootstrap."""
    dtype: str = "auto"
    """Policy and reward model dtype: auto | float32 | bfloat16 | float16."""
    progress: bool = True
    """Show tqdm progress bars."""
    overwrite: bool = False
    """Write into an output_dir that already holds files (else refused, so earlier results are never lost)."""
    output_root: str = "outputs"
    """Root of the default output_dir (and of run folders, for naming what is evaluated)."""
    artifacts_dir: str = "artifacts"
    """Where project-built tiny models live (a tiny adapter base or reward backbone is looked up here)."""
    dataset: Any = None
    """Dataset section (validated by its own dataset schema); absent = the evaluated run's (see the module doc)."""

    def check(self) -> None:
        super().check()
        if self.num_problems is not None and self.num_problems < 1:
            raise ConfigError(f"num_problems must be >= 1 or null, got {self.num_problems}")


@dataclass
class EvalConfig(EvalCommon):
    policy: Optional[str] = None
    """Policy to evaluate: adapter folder (run final/ or checkpoint-N/), run folder, model folder or hub id;
    null = the base model of the model section."""
    reward_model_path: Optional[str] = None
    """Saved token reward model folder (e.g. <airl run>/reward_model); null = verifiable metrics only."""
    rescore_from: Optional[str] = None
    """An existing eval_results.jsonl: rescore its completions with the reward model, no sampling."""
    ks: list[int] = field(default_factory=lambda: [1, 4, 8])
    """k of pass@k, maj@k, random@k and success@k; each at most sampling.num_samples (N). With rescore_from, N is the
    file's samples per problem and larger ks are skipped."""
    output_dir: Optional[str] = None
    """Where eval_results.jsonl, eval_summary.json and eval_table.md are written; null = derived from the policy
    (<output_root>/eval/<policy name>-<split>) or, with rescore_from, <its folder>-rescored (see evaluation.output_dir)."""
    model: ModelConfig = field(default_factory=ModelConfig)
    """Base model (of an adapter whose run config is missing, and the policy when policy is null)."""
    sampling: EvalSampling = field(default_factory=EvalSampling)
    """Sampling settings."""
    search: SearchConfig = field(default_factory=SearchConfig)
    """Reward-guided search (method none = plain evaluation); see reasoning_irl.evaluation.search."""

    def input_files(self) -> dict[str, Optional[str]]:
        """The files this evaluation reads, by key: never inside its output folder."""
        return {"rescore_from": self.rescore_from}

    def check(self) -> None:
        super().check()
        if not self.ks or any(k < 1 for k in self.ks):
            raise ConfigError(f"ks must be a non-empty list of integers >= 1, got {self.ks}")
        if not self.rescore_from and self.sampling.num_samples and max(self.ks) > self.sampling.num_samples:
            # Refused rather than skipped: a table silently missing pass@16 reads as if it had been asked for less.
            raise ConfigError(
                f"ks={self.ks}: k={max(self.ks)} is more than sampling.num_samples={self.sampling.num_samples} "
                f"(each k must be in [1, num_samples]); lower ks or raise sampling.num_samples"
            )
        _check_file(self.rescore_from, "rescore_from")
        if self.rescore_from and self.reward_model_path is None:
            raise ConfigError("rescore_from needs reward_model_path (the reward model to rescore with)")
        _check_reward_model(self.reward_model_path)
        if self.search.method != "none" and (
            self.reward_model_path is None
            or self.rescore_from
            or self.sampling.use_vllm
            or not self.sampling.num_samples
        ):
            raise ConfigError(
                f"search.method={self.search.method} needs reward_model_path and sampling.num_samples >= 1, and works "
                "without rescore_from and with sampling.use_vllm=false"
            )
        if (
            self.policy is not None
            and self.policy.startswith((".", "/", "~"))
            and not Path(self.policy).expanduser().exists()
        ):
            raise ConfigError(f"policy: {self.policy} does not exist")


@dataclass
class IRLEvalConfig(EvalCommon):
    reward_model_path: Optional[str] = None
    """Saved token reward model folder (required)."""
    perturbations: list[str] = field(default_factory=_all_perturbations)
    """Perturbation kinds drawn for each expert trace; default: all registered."""
    perturbations_per_trace: int = 4
    """K: perturbed copies per expert trace (fewer when a kind cannot change the text)."""
    samples_from: Optional[str] = None
    """An eval_results.jsonl: also AUROC of sequence scores, correct vs wrong samples, per selector."""
    output_dir: Optional[str] = None
    """Where irl_diagnostics.json/.md and irl_traces.jsonl are written; null = derived from the reward model
    (<output_root>/eval_irl/<reward model name>-<split>, see evaluation.output_dir)."""

    def input_files(self) -> dict[str, Optional[str]]:
        """The files this evaluation reads, by key: never inside its output folder."""
        return {"samples_from": self.samples_from}

    def check(self) -> None:
        from reasoning_irl.rewards import PERTURBATIONS

        if self.reward_model_path is None:
            raise ConfigError(
                "reward_model_path is required (a saved reward model folder, e.g. <airl run>/reward_model)"
            )
        _check_reward_model(self.reward_model_path)
        super().check()
        for name in self.perturbations:
            if name not in PERTURBATIONS.names():
                raise ConfigError(f"perturbations: unknown {name!r}; choose from: {', '.join(PERTURBATIONS.names())}")
        if self.perturbations_per_trace < 1:
            raise ConfigError("perturbations_per_trace must be >= 1")
        _check_file(self.samples_from, "samples_from")


def typed_config(cfg: Any, schema: type, announce: bool = True) -> tuple[Any, Any, dict]:
    """(typed config, validated dataset section, resolved plain dict) of a composed config, with what the
    evaluated run's config.yaml supplies filled in (:func:`apply_run_config`; ``announce=False``: not printed, for
    the check before Hydra runs, after which the evaluation prints it)."""
    from omegaconf import DictConfig, OmegaConf

    from reasoning_irl.data import DatasetConfig, dataset_config

    resolved = OmegaConf.to_container(cfg, resolve=True) if isinstance(cfg, DictConfig) else dict(cfg)
    resolved.pop("hydra", None)
    apply_run_config(resolved, schema, announce)
    typed = validate(resolved, schema, "config")
    dataset = dataset_config(resolved.get("dataset") or {"name": DatasetConfig.name})
    return typed, dataset, resolved


def run_config_file(path: Optional[str]) -> Optional[Path]:
    """The ``config.yaml`` of the training run that ``path`` (a run folder, its final/ or checkpoint-N/, its
    reward_model/) belongs to, or None (a hub id, a base model, a folder outside a run)."""
    if not path:
        return None
    folder = Path(path).expanduser()
    for candidate in (folder, folder.parent):
        if (candidate / "config.yaml").is_file():
            return candidate / "config.yaml"
    return None


def found_from_above(name: str, anchor: Path, kind: Callable[[Path], bool] = Path.exists) -> Optional[Path]:
    """``name`` as a path that passes ``kind``: as written (from the working directory), or a relative one from a
    folder above ``anchor``, for a path recorded by a run or evaluation started in another folder (the demo records
    paths from the repository root); None when neither."""
    path = Path(name).expanduser()
    if kind(path):
        return path
    if path.is_absolute():
        return None
    return next((above / path for above in anchor.resolve().parents if kind(above / path)), None)


def summary_beside(results_file: str) -> dict:
    """The eval_summary.json beside an eval_results.jsonl ({} when there is none)."""
    import json

    summary = Path(results_file).expanduser().parent / "eval_summary.json"
    return json.loads(summary.read_text(encoding="utf-8")) if summary.is_file() else {}


def rescored_policy(rescore_from: str) -> Optional[str]:
    """The policy recorded in the eval_summary.json beside a rescored eval_results.jsonl, if any, found as
    :func:`found_from_above` finds it (else as recorded)."""
    policy = (summary_beside(rescore_from).get("config") or {}).get("policy")
    if not isinstance(policy, str):
        return policy
    found = found_from_above(policy, Path(rescore_from))
    return policy if found is None or found == Path(policy).expanduser() else str(found)


# evaluate.py's sampling key -> the training run's sampling key it defaults to
RUN_SAMPLING_KEYS = {"temperature": "temperature", "top_p": "top_p", "max_new_tokens": "max_completion_length"}


def apply_run_config(resolved: dict, schema: type, announce: bool = True) -> list[str]:
    """Fill ``resolved`` (an evaluation config) from the evaluated run's config.yaml, where the command line left
    things open, print one line saying what was taken from where, and return those items.

    - ``dataset``: absent (no ``dataset=<name>``) -> the run's section (no run: the default dataset), with any
      ``dataset.<key>=<value>`` overrides on top; given without a system prompt -> the run's system prompt (what the policy was trained to follow).
    - ``sampling`` (evaluate.py): ``temperature``, ``top_p``, ``max_new_tokens`` left null -> the run's
      ``sampling.temperature``, ``sampling.top_p``, ``sampling.max_completion_length``.
    """
    import yaml

    source = resolved.get("policy") if schema is EvalConfig else resolved.get("reward_model_path")
    if schema is EvalConfig and source is None and resolved.get("rescore_from"):
        source = rescored_policy(resolved["rescore_from"])
    file = run_config_file(source)
    run = (yaml.safe_load(file.read_text()) or {}) if file is not None else {}
    taken: list[str] = []
    run_dataset = run.get("dataset") if isinstance(run.get("dataset"), dict) else None
    given = resolved.get("dataset")
    if not isinstance(given, dict) or "name" not in given:
        from reasoning_irl.data.base import DatasetConfig

        resolved["dataset"] = {**(run_dataset or {"name": DatasetConfig.name}), **(given or {})}
        if run_dataset:
            taken.append(f"dataset {run_dataset.get('name')}")
        if run_dataset and run_dataset.get("system_prompt") is not None and "system_prompt" not in (given or {}):
            taken.append("system prompt")
    elif (
        run_dataset
        and isinstance(given, dict)
        and given.get("system_prompt") is None
        and run_dataset.get("system_prompt") is not None
    ):
        given["system_prompt"] = run_dataset["system_prompt"]
        taken.append("system prompt")
    run_sampling = run.get("sampling") if isinstance(run.get("sampling"), dict) else {}
    sampling = resolved.get("sampling")
    if schema is EvalConfig and isinstance(sampling, dict):
        for key, run_key in RUN_SAMPLING_KEYS.items():
            if sampling.get(key) is None and run_sampling.get(run_key) is not None:
                sampling[key] = run_sampling[run_key]
                taken.append(run_key)
    if taken and announce:
        items = taken[0] if len(taken) == 1 else ", ".join(taken[:-1]) + " and " + taken[-1]
        print(f"{items} from {file}", flush=True)
    return taken


def finite(x: float) -> Optional[float]:
    """JSON-safe float: NaN/inf -> None."""
    return float(x) if x is not None and math.isfinite(x) else None
