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
from reasoning_irl.data import dataset_config
from reasoning_irl.training.config import LoggingConfig, TrainingConfig
from reasoning_irl.training.run_dir import is_main_process, prepare_run_dir, resolve_resume, run_fingerprint

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
    prepare_run_dir(run.cfg.output_root, run.cfg.run_name, run.resolved, run.resume_checkpoint,
                    write=is_main_process())
    # Seed before the model is built: the LoRA A matrices are drawn from the global RNG when the adapter is
    # created, which happens before the Trainer seeds; unseeded, two runs with one seed start from different adapters.
    seed_everything(run.cfg.seed)
    return run


def check_run(cfg: Any, schema: type, method: str) -> Run:
    """Every check :func:`start_run` makes, writing nothing (the entry scripts run it before Hydra writes)."""
    resolved = to_dict(cfg)
    resolved.pop("hydra", None)
    # Checked before validation: another method's section would otherwise fail on its first foreign key,
    # with a message that does not say the real problem (the wrong preset for this script).
    given = (resolved.get("method") or {}).get("name")
    if given != method:
        raise ConfigError(f"method.name is {given!r} but this script trains {method!r}; pick a {method} preset "
                          f"(e.g. experiment=tiny_{method})")
    typed = validate(resolved, schema, "config")
    dataset = dataset_config(resolved.get("dataset"))
    run_dir = Path(typed.output_root) / typed.run_name
    # may refuse (missing tracker package, no credentials): before any folder
    configure_tracking(typed.logging, typed.run_name, run_dir)
    disable_hub_telemetry()
    fingerprint = run_fingerprint(resolved)
    resume = resolve_resume(run_dir, typed.training.resume_from, fingerprint)
    # Under `accelerate launch`, every process checks the folder (so all refuse a bad one together) but only the
    # main process writes it (start_run). The others need nothing from it before training, and they cannot pass the
    # Trainer's first collective (model preparation) until the main process has written it and reached it too.
    prepare_run_dir(typed.output_root, typed.run_name, resolved, resume, write=False)
    return Run(typed, dataset, run_dir, resume, fingerprint, resolved)


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
        raise ConfigError(f"logging.report_to={logging_cfg.report_to} needs the {package[0]} package "
                          f"(pip install {package[0]}), or set logging.report_to=none")
    if logging_cfg.report_to != "wandb":
        return
    mode = os.environ.get("WANDB_MODE")
    if mode is None and not wandb_key_known():
        log.warning("no wandb credentials: logging to wandb offline (set WANDB_MODE to override)")
        os.environ["WANDB_MODE"] = mode = "offline"
    if mode in ("online", "run") and not wandb_key_known():
        raise ConfigError("logging.report_to=wandb is online but no wandb credentials were found: "
                          "run `wandb login`, or set WANDB_MODE=offline")
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
        warmup_steps=training.warmup_steps,
        weight_decay=training.weight_decay,
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
        activation_checkpointing=cfg.model.gradient_checkpointing,
        use_cpu=not _cuda(),
        bf16=_cuda() and cfg.model.dtype in ("auto", "bfloat16") and _bf16(),
        disable_tqdm=False,
        dataloader_num_workers=0,
    )


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def _bf16() -> bool:
    import torch

    return torch.cuda.is_bf16_supported()
