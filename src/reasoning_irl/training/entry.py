"""The shared body of the Hydra entry scripts: run, and turn errors into one line: exit code 2 for a config error
(bad input: nothing was trained), 3 for a run that diverged (NaN/inf; every published checkpoint is finite)."""

from __future__ import annotations

import logging
import os
import re
import sys
from typing import Any, Callable, Optional

from reasoning_irl.config import ConfigError, compose, register_schemas

# Hydra options under which a plain compose of the overrides is not the job's config (other config,
# sweeps, help pages); Hydra handles those itself.
_HYDRA_ONLY = {"-m", "--multirun", "-cn", "--config-name", "-cp", "--config-path", "-cd", "--config-dir",
               "-h", "--help", "--hydra-help", "-i", "--info", "-sc", "--shell-completion"}


CONFIG_ERROR_EXIT, DIVERGED_EXIT = 2, 3


def fail(message: str, code: int = CONFIG_ERROR_EXIT) -> None:
    print(f"error: {message}", file=sys.stderr)
    sys.exit(code)


SWEPT_KEYS_ENV = "REASONING_IRL_SWEPT_KEYS"
"""Set by :func:`check_overrides` for a multirun: the swept keys, for jobs that run where ``sys.argv`` is not the
command line (a SLURM job started by the submitit launcher sees submitit's own argv; the environment goes along)."""


def check_overrides(config_name: str, argv: Optional[list[str]] = None) -> None:
    """Compose and check once before Hydra runs, so a bad override (unknown key, missing preset, invalid option
    pair) ends in one line and exit code 2 instead of Hydra's multi-line report, and before Hydra writes anything.
    For a multirun, record the swept keys (SWEPT_KEYS_ENV)."""
    argv = sys.argv[1:] if argv is None else argv
    register_schemas(config_name)  # what configs/ extends, before Hydra composes anything (help pages included)
    # A multirun's jobs are checked one by one (each gets its own run_name): only composition is checked here.
    is_multirun = "-m" in argv or "--multirun" in argv
    if is_multirun:
        os.environ[SWEPT_KEYS_ENV] = ",".join(swept_keys(argv))
    if any(arg.split("=", 1)[0] in _HYDRA_ONLY for arg in argv):
        return
    try:
        cfg = compose(config_name, [arg for arg in argv if "=" in arg and not arg.startswith("-")])
        if config_name in RUN_SCHEMAS and not is_multirun and not any(arg in _NO_JOB for arg in argv):
            check_job(config_name, cfg)
    except ConfigError as exc:
        fail(str(exc))


# The run config of each training script, imported only here: the check needs the schema, which pulls in torch/TRL.
RUN_SCHEMAS = {"sft": ("reasoning_irl.training.sft", "SFTRunConfig"),
               "grpo": ("reasoning_irl.training.grpo", "GRPORunConfig"),
               "airl": ("reasoning_irl.training.airl.config", "AIRLRunConfig")}
_NO_JOB = {"-c", "--cfg"}  # Hydra prints the config and runs nothing


def check_job(config_name: str, cfg: Any) -> None:
    """The job's whole config check (schema, option pairs, run folder, resume), before Hydra creates the run folder
    and writes ``.hydra/`` into it: a refused config leaves no new folder and an existing one untouched."""
    import importlib

    from reasoning_irl.training.setup import check_run

    module, schema = RUN_SCHEMAS[config_name]
    check_run(cfg, getattr(importlib.import_module(module), schema), config_name)


_SWEEP_MARKERS = (",", "range(", "choice(", "glob(", "interval(")
# A list, dict or quoted string is one value, whatever commas it holds (``ks=[1,4,8]`` sweeps nothing).
_ONE_VALUE = re.compile(r"\[[^\]]*\]|\{[^}]*\}|'[^']*'|\"[^\"]*\"")


def swept_keys(argv: list[str]) -> list[str]:
    """Keys a multirun command line sweeps over (``seed=1,2``, ``+ablation=sparse,wgan``, ``x=range(3)``)."""
    keys = []
    for arg in argv:
        key, _, value = arg.partition("=")
        value = _ONE_VALUE.sub("", value)
        if value and not arg.startswith("-") and any(m in value for m in _SWEEP_MARKERS):
            keys.append(key.lstrip("+~"))
    return keys


def sweep_job_name() -> Optional[str]:
    """In a Hydra multirun, this job's swept ``key=value,...`` (``job<n>`` when none is known); else None."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    if not HydraConfig.initialized() or HydraConfig.get().mode != RunMode.MULTIRUN:
        return None
    env = os.environ.get(SWEPT_KEYS_ENV)
    swept = set(env.split(",") if env is not None else swept_keys(sys.argv[1:]))
    parts = [o.lstrip("+~") for o in HydraConfig.get().overrides.task if o.lstrip("+~").split("=", 1)[0] in swept]
    return ",".join(sorted(parts)) or f"job{HydraConfig.get().job.num}"


def sweep_run_name(cfg: Any) -> None:
    """In a Hydra multirun, give each job its own run folder: ``<run_name>/<swept key=value,...>``.

    Without this, ``-m seed=1 +ablation=sparse,wgan`` would send both jobs to one folder (the second
    then refuses to overwrite the first's checkpoints).
    """
    from omegaconf import open_dict

    job = sweep_job_name()
    if job is None:
        return
    with open_dict(cfg):
        cfg.run_name = f"{cfg.run_name}/{job}"


def replica_overrides() -> list[str]:
    """Hydra overrides for the non-main processes of a multi-process run (``RANK`` > 0, set by ``accelerate
    launch``/torchrun): no ``.hydra/`` folder and no log file of their own, so the run folder's metadata is
    written once, by the main process; they log to the console only."""
    from reasoning_irl.training.run_dir import is_main_process

    if is_main_process():
        return []
    return ["hydra.output_subdir=null", "hydra/job_logging=stdout"]


def run_entry(fn: Callable[[Any], Any], cfg: Any) -> Any:
    from reasoning_irl.training.divergence import TrainingDiverged  # torch loads only when a job runs

    logging.getLogger().setLevel(logging.INFO)
    try:
        sweep_run_name(cfg)
        result = fn(cfg)
    except ConfigError as exc:
        fail(str(exc))
    except TrainingDiverged as exc:
        fail(str(exc), DIVERGED_EXIT)
    print(f"done: {result}")
    return result
