"""What every entry script does before training: validate, make the run folder, logging, seeding."""

from __future__ import annotations

import importlib.util
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from omegaconf import DictConfig, OmegaConf

from reasoning_irl.config import ConfigError, validate
from reasoning_irl.data import dataset_config, load_split, to_hf_dataset
from reasoning_irl.folder_lock import check_unclaimed, claim_folder
from reasoning_irl.models import loading
from reasoning_irl.runs import (
    check_checkpoint,
    check_run_name,
    check_writable,
    chosen_checkpoint,
    is_main_process,
    prepare_run_dir,
    run_fingerprint,
)
from reasoning_irl.training.checkpointing import check_resumable
from reasoning_irl.training.config import LoggingConfig, TrainingConfig
from reasoning_irl.training.held_out import held_out_records

log = logging.getLogger(__name__)


@dataclass
class Run:
    """A validated run: typed sections, the run folder, and the checkpoint to resume from (if any)."""

    cfg: Any
    dataset: Any
    run_dir: Path
    resume_checkpoint: Optional[str]
    fingerprint: str
    resolved: dict = field(default_factory=dict)


def to_dict(cfg: Any) -> dict:
    if isinstance(cfg, DictConfig):
        return OmegaConf.to_container(cfg, resolve=True)  # type: ignore[return-value]
    return dict(cfg)


def start_run(cfg: Any, schema: type, method: str) -> Run:
    """Validate ``cfg`` against ``schema`` (the script's run config), check the method, create the run folder."""
    run = check_run(cfg, schema, method)
    claim_run_folder(run.run_dir)
    prepare_run_dir(run.cfg.output_root, run.cfg.run_name, run.resolved, run.resume_checkpoint, write=is_main_process())
    # Seed before the model is built: the LoRA A matrices are drawn from the global RNG when the adapter is
    # created, which happens before the Trainer seeds; unseeded, two runs with one seed start from different adapters.
    seed_everything(run.cfg.seed)
    return run


def check_run(cfg: Any, schema: type, method: str) -> Run:
    """Every check :func:`start_run` makes, writing nothing (the entry scripts run it before Hydra writes)."""
    resolved = to_dict(cfg)
    resolved.pop("hydra", None)
    typed, dataset = checked_run_config(resolved, schema, method)
    run_dir = Path(typed.output_root) / typed.run_name
    if is_main_process():  # the replicas run beside the main process's claim, never against it
        check_unclaimed(run_dir, RUN_FOLDER_HINT)
    # may refuse (missing tracker package, no credentials): before any folder
    configure_tracking(typed.logging, typed.run_name, run_dir)
    disable_hub_telemetry()
    fingerprint = run_fingerprint(resolved)
    checkpoint = chosen_checkpoint(run_dir, typed.training.resume_from)
    if checkpoint is not None:
        check_resumable(checkpoint)  # every file intact, run_info.json too, before its fingerprint is read
        check_checkpoint(checkpoint, fingerprint)
    resume = str(checkpoint) if checkpoint is not None else None
    # Under `accelerate launch`, every process checks the folder (so all refuse a bad one together) but only the
    # main process writes it (start_run). The others need nothing from it before training, and they cannot pass the
    # Trainer's first collective (model preparation) until the main process has written it and reached it too.
    prepare_run_dir(typed.output_root, typed.run_name, resolved, resume, write=False)
    check_writable(run_dir, "output_root")
    # The data set is read here too, so an unreadable or empty one is refused before Hydra writes the run folder.
    load_split(dataset, "train")
    held_out_records(dataset, typed.training)
    return Run(typed, dataset, run_dir, resume, fingerprint, resolved)


def validated_run_config(resolved: dict, schema: type, method: str, on_this_machine: bool = True) -> Any:
    """A resolved run config checked as every entry point checks it (a run, ``plan=true``, ``--cfg job``): the
    method, each section against ``schema``, and the model / sampling combinations a run refuses."""
    # Checked before validation: another method's section would otherwise fail on its first foreign key,
    # with a message that does not say the real problem (the wrong preset for this script).
    given = (resolved.get("method") or {}).get("name")
    if given != method:
        raise ConfigError(
            f"method.name is {given!r} but this script trains {method!r}; pick a {method} preset "
            f"(e.g. experiment=tiny_{method})"
        )
    typed = validate({key: value for key, value in resolved.items() if key != "hydra"}, schema, "config")
    check_recipe(typed, on_this_machine)
    return typed


def checked_run_config(resolved: dict, schema: type, method: str, on_this_machine: bool = True) -> tuple[Any, Any]:
    """(typed config, dataset section): :func:`validated_run_config`, the run name and the dataset section, all a
    run checks of the config alone (``--cfg job`` stops here)."""
    typed = validated_run_config(resolved, schema, method, on_this_machine)
    check_run_name(typed.run_name, typed.output_root)
    return typed, dataset_config(resolved.get("dataset"))


RUN_FOLDER_HINT = "wait for that run to end, or choose another run_name"


def claim_run_folder(run_dir: Path) -> None:
    """Make this process the run folder's one writer until the run ends (reasoning_irl.folder_lock); only the
    main process claims it: the replicas of a multi-process run write nothing there."""
    if is_main_process():
        claim_folder(run_dir, RUN_FOLDER_HINT)


def seed_everything(seed: int) -> None:
    from transformers import set_seed

    set_seed(seed)


def disable_hub_telemetry() -> None:
    """No call home: TRL pings the hub each time a trainer is built unless hub telemetry is off. The
    environment variable covers child processes; the constant is what an already imported hub library reads."""
    os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"
    import huggingface_hub.constants

    huggingface_hub.constants.HF_HUB_DISABLE_TELEMETRY = True


def wandb_key_known() -> bool:
    """An API key in the environment or in the netrc file ``wandb login`` writes (read locally, no network)."""
    import netrc
    from urllib.parse import urlsplit

    if os.environ.get("WANDB_API_KEY"):
        return True
    host = urlsplit(os.environ.get("WANDB_BASE_URL", "https://api.wandb.ai")).hostname
    path = os.environ.get("NETRC") or os.path.join(os.path.expanduser("~"), ".netrc")
    try:
        return netrc.netrc(path).authenticators(host) is not None
    except (OSError, netrc.NetrcParseError):
        return False


_WANDB_DIR_SET: list[str] = []  # the WANDB_DIR values this process set (a user's own is kept)


def configure_tracking(logging_cfg: LoggingConfig, run_name: str, run_dir: Optional[Path] = None) -> None:
    """Point wandb at the configured project/entity (and its files at the run folder) through its
    environment; never log in here, and refuse online logging without credentials in one line."""
    package = {"wandb": ["wandb"], "tensorboard": ["tensorboard", "tensorboardX"]}.get(logging_cfg.report_to, [])
    if package and not any(importlib.util.find_spec(name) for name in package):
        # Refused here in one line; the Trainer would fail later with a traceback.
        raise ConfigError(
            f"logging.report_to={logging_cfg.report_to} needs the {package[0]} package "
            f"(pip install {package[0]}), or set logging.report_to=none"
        )
    if logging_cfg.report_to != "wandb":
        return
    mode = os.environ.get("WANDB_MODE")
    if mode is None and not wandb_key_known():
        log.warning("no wandb credentials: logging to wandb offline (set WANDB_MODE to override)")
        os.environ["WANDB_MODE"] = mode = "offline"
    if mode in ("online", "run") and not wandb_key_known():
        raise ConfigError(
            "logging.report_to=wandb is online but no wandb credentials were found: "
            "run `wandb login`, or set WANDB_MODE=offline"
        )
    os.environ.setdefault("WANDB_PROJECT", logging_cfg.project)
    if logging_cfg.entity:
        os.environ.setdefault("WANDB_ENTITY", logging_cfg.entity)
    if run_dir is not None and os.environ.get("WANDB_DIR") in (None, *_WANDB_DIR_SET):
        os.environ["WANDB_DIR"] = str(Path(run_dir).resolve())  # wandb/ inside the run folder, not the cwd
        _WANDB_DIR_SET.append(os.environ["WANDB_DIR"])


def trainer_arguments(run: Run, training: TrainingConfig) -> dict[str, Any]:
    """Keyword arguments shared by our SFTConfig / GRPOConfig."""
    cfg = run.cfg
    return dict(
        output_dir=str(run.run_dir),
        run_name=cfg.logging.run_name or cfg.run_name,
        report_to=[] if cfg.logging.report_to == "none" else [cfg.logging.report_to],
        seed=cfg.seed,
        data_seed=cfg.seed,
        max_steps=training.max_steps,
        learning_rate=training.learning_rate,
        lr_scheduler_type=training.lr_scheduler_type,
        # transformers 5 has no warmup_ratio argument: warmup_steps below 1 is read as a fraction of the steps.
        warmup_steps=training.warmup_ratio if training.warmup_ratio > 0 else training.warmup_steps,
        weight_decay=training.weight_decay,
        optim=training.optim,
        adam_beta1=training.adam_beta1,
        adam_beta2=training.adam_beta2,
        max_grad_norm=training.max_grad_norm,
        per_device_train_batch_size=training.per_device_batch_size,
        gradient_accumulation_steps=training.gradient_accumulation_steps,
        logging_steps=training.logging_steps,
        save_strategy="steps",
        save_steps=training.save_steps,
        save_total_limit=training.save_total_limit,
        # The held-out learning curve (training/held_out.py) rides on the Trainer's evaluation schedule; the point
        # before training is taken once, not again when a run resumes.
        eval_strategy="steps" if training.eval_steps else "no",
        eval_steps=training.eval_steps or None,
        eval_on_start=bool(training.eval_steps) and run.resume_checkpoint is None,
        # TRL defaults gradient checkpointing to True; the model config decides (the tiny presets turn it off).
        # (activation_checkpointing is the transformers 5 name; the old one warns.)
        **{_checkpointing_arg(): cfg.model.gradient_checkpointing},
        use_cpu=not loading.cuda_available(),
        bf16=loading.cuda_available() and cfg.model.dtype in ("auto", "bfloat16") and _bf16(),
        disable_tqdm=False,
        dataloader_num_workers=0,
    )


def _checkpointing_arg() -> str:
    import dataclasses

    from transformers import TrainingArguments

    names = {f.name for f in dataclasses.fields(TrainingArguments)}
    return "activation_checkpointing" if "activation_checkpointing" in names else "gradient_checkpointing"


def _bf16() -> bool:
    import torch

    return torch.cuda.is_bf16_supported()


def prompt_rows(records: list[dict[str, Any]], tokenizer: Any, max_prompt_length: int):
    """GRPO rows (prompt + every other column for the reward functions), too-long prompts dropped and counted."""
    kept = []
    for record in records:
        ids = tokenizer.apply_chat_template(record["prompt"], add_generation_prompt=True, tokenize=True)
        if hasattr(ids, "input_ids") or isinstance(ids, dict):
            ids = ids["input_ids"]
        if len(ids) <= max_prompt_length:
            kept.append(record)
    dropped = len(records) - len(kept)
    if dropped:
        log.warning("dropped %d of %d prompts longer than %d tokens", dropped, len(records), max_prompt_length)
    if not kept:
        raise ConfigError(f"every prompt is longer than sampling.max_prompt_length={max_prompt_length}")
    return to_hf_dataset(kept)


def grpo_arguments(run: Run, config_cls: type) -> Any:
    """A TRL GRPOConfig (or subclass) from our typed sections."""
    typed = run.cfg
    method, sampling = typed.method, typed.sampling
    return config_cls(
        **trainer_arguments(run, typed.training),
        num_generations=sampling.num_generations,
        temperature=sampling.temperature,
        top_p=sampling.top_p,
        max_completion_length=sampling.max_completion_length,
        generation_kwargs=min_tokens_kwargs(sampling),
        use_vllm=sampling.use_vllm,
        vllm_mode=sampling.vllm_mode,
        vllm_gpu_memory_utilization=sampling.vllm_gpu_memory_utilization,
        # Without it vLLM sizes its context by the model's max_position_embeddings (131,072 for Llama-3.1), and its
        # share of the GPU must hold one such sequence's KV cache to start; prompt_rows drops longer prompts.
        vllm_max_model_length=sampling.max_prompt_length + sampling.max_completion_length,
        vllm_server_host=sampling.vllm_server_host,
        vllm_server_port=sampling.vllm_server_port,
        beta=method.beta,
        loss_type=method.loss_type,
        epsilon=method.epsilon,
        epsilon_high=method.epsilon_high,
        num_iterations=method.num_iterations,
        # AIRL methods have neither key: TRL's own advantages are discarded there.
        scale_rewards=getattr(method, "scale_rewards", "none"),
        reward_weights=[term.weight for term in getattr(method, "rewards", [])] or None,
        remove_unused_columns=False,
        log_completions=False,
        # TRL checks that evaluation batches hold whole groups; the held-out evaluation decodes on its own.
        per_device_eval_batch_size=sampling.num_generations,
    )


def check_group_batch(typed: Any) -> None:
    """Completions per optimizer step must hold whole groups (TRL's own check fails with a traceback, later)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    per_step = typed.training.per_device_batch_size * typed.training.gradient_accumulation_steps * world
    if per_step % typed.sampling.num_generations:
        raise ConfigError(
            f"training.per_device_batch_size x gradient_accumulation_steps x processes = {per_step} completions "
            f"is not a multiple of sampling.num_generations={typed.sampling.num_generations}"
        )


def check_recipe(typed: Any, on_this_machine: bool = True) -> None:
    """Every refusal of a model / sampling combination the pinned libraries cannot run (``check_vllm``,
    ``check_reward_model_config``), for any training config; ``plan=true`` passes ``on_this_machine=False``."""
    sampling = getattr(typed, "sampling", None)
    check_vllm(bool(sampling and sampling.use_vllm), typed.model, on_this_machine)
    reward_model = getattr(typed, "reward_model", None)
    if reward_model is not None and not getattr(typed.method, "frozen_reward_model", None):
        check_reward_model_config(reward_model)


def check_vllm(use_vllm: bool, model_cfg: Any, on_this_machine: bool = True) -> None:
    """The one-GPU recipe's checks, in one line each, before anything loads (docs/scaling_out.md, "One GPU").

    ``sampling.use_vllm`` samples with TRL's vLLM engine (colocated, or a `trl vllm-serve` server): TRL merges the LoRA
    adapter and pushes the merged weights into vLLM before each generation. That needs a policy in bf16/fp16/fp32:
    vLLM 0.31 has no bitsandbytes quantisation in tree (moved out to a plugin in 0.28), and TRL's weight push has no
    path for a 4-bit base. ``on_this_machine=False`` (``plan=true``) checks the combination only, not this machine.
    (``model.backend=unsloth`` is refused when the section is validated: ModelConfig.check.)
    """
    if not use_vllm:
        return
    if model_cfg.load_in_4bit:
        raise ConfigError(
            "model.load_in_4bit=true with sampling.use_vllm=true: vLLM 0.31 cannot load a bitsandbytes 4-bit policy "
            "and TRL cannot push 4-bit LoRA weights into it; the one-GPU recipe is a bf16 policy, "
            "model.load_in_4bit=false sampling.use_vllm=true (or keep 4-bit and set sampling.use_vllm=false: "
            "slower, HF generate)"
        )
    if not on_this_machine:
        return
    if not loading.cuda_available():
        raise ConfigError("sampling.use_vllm=true needs a CUDA GPU; set it to false on CPU")
    if importlib.util.find_spec("vllm") is None:
        raise ConfigError("sampling.use_vllm=true needs the vllm package: make install-gpu (constraints/gpu.txt)")


def check_reward_model_config(cfg: Any) -> None:
    """AIRL's discriminator (``TokenRewardModel``) loads its backbone in the compute dtype and has no quantised path:
    a 4-bit reward model is refused rather than loaded against its config. At the paper's sizes (0.5-3B) bf16
    costs 1-6 GiB."""
    if cfg.load_in_4bit:
        raise ConfigError(
            "reward_model.load_in_4bit=true: the reward model loads in the compute dtype (bf16 on a GPU); set "
            "reward_model.load_in_4bit=false (the paper presets do)"
        )


def min_tokens_kwargs(sampling: Any) -> Optional[dict]:
    """The generation keyword that forbids end-of-sequence before ``min_completion_length`` tokens: vLLM's
    SamplingParams calls it ``min_tokens``, transformers' GenerationConfig ``min_new_tokens``."""
    if not sampling.min_completion_length:
        return None
    return {("min_tokens" if sampling.use_vllm else "min_new_tokens"): sampling.min_completion_length}
