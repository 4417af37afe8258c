"""The shared body of the Hydra entry scripts (training and evaluation alike): check the command line before
Hydra runs, run, and turn errors into one line: exit code 2 for a config error (bad input: nothing was trained),
3 for a run that diverged (NaN/inf; every published checkpoint is finite)."""

from __future__ import annotations

import atexit
import gc
import logging
import os
import sys
from collections.abc import Callable
from typing import Any, Optional

from omegaconf import OmegaConf

from reasoning_irl.composition import EVALUATION_CONFIGS, TRAINING_CONFIGS, compose, register_schemas, schema_class
from reasoning_irl.config import ConfigError
from reasoning_irl.folder_lock import release_all
from reasoning_irl.runs import (
    SWEPT_KEYS_ENV,
    check_run_name,
    fault_cause,
    is_main_process,
    storage_fault,
    sweep_run_name,
    swept_keys,
)

# Hydra options under which a plain compose of the overrides is not the job's config (other config,
# sweeps, help pages); Hydra handles those itself.
_HYDRA_ONLY = {
    "-m",
    "--multirun",
    "-cn",
    "--config-name",
    "-cp",
    "--config-path",
    "-cd",
    "--config-dir",
    "-h",
    "--help",
    "--hydra-help",
    "-i",
    "--info",
    "-sc",
    "--shell-completion",
}


CONFIG_ERROR_EXIT, DIVERGED_EXIT = 2, 3

# A process that loaded torch, transformers and TRL (some 4,000 modules) spends 1-2 s of a 2-core machine in
# Python's last garbage collection at exit. Freezing the heap at exit skips it: exit handlers (log files, the
# tracker) still run, and what is left is returned to the operating system as with any ended process.
atexit.register(gc.freeze)


def fail(message: str, code: int = CONFIG_ERROR_EXIT) -> None:
    print(f"error: {message}", file=sys.stderr)
    sys.exit(code)


def before_hydra(config_name: str) -> None:
    """What an entry script does before Hydra runs: check the command line, leave out a tracker the job will not
    use, and under ``accelerate launch`` keep the replicas from writing the run folder's metadata."""
    cfg = check_overrides(config_name)
    if cfg is not None:
        skip_unused_wandb(config_name, cfg)
    sys.argv += replica_overrides()


def skip_unused_wandb(config_name: str, cfg: Any) -> None:
    """TRL imports wandb whenever it is installed, about 0.7 s of every training process's start on two cores.
    A job that does not log to wandb never calls it, so its process marks it absent (``None`` in ``sys.modules``:
    ``find_spec`` then reports it missing and nothing imports it). Only the entry process does this: a test
    process, which runs jobs of both kinds, keeps wandb importable."""
    logs_to_wandb = config_name in TRAINING_CONFIGS and OmegaConf.select(cfg, "logging.report_to") == "wandb"
    if not logs_to_wandb and "wandb" not in sys.modules:
        sys.modules["wandb"] = None


def check_overrides(config_name: str, argv: Optional[list[str]] = None) -> Optional[Any]:
    """Compose and check once before Hydra runs, so a bad override (unknown key, missing preset, invalid option
    pair) ends in one line and exit code 2 instead of Hydra's multi-line report, and before Hydra writes anything.
    For a multirun, record the swept keys (SWEPT_KEYS_ENV). Returns the composed config of a single job (None for
    a multirun or a command Hydra handles itself)."""
    argv = sys.argv[1:] if argv is None else argv
    register_schemas(config_name)  # what configs/ extends, before Hydra composes anything (help pages included)
    # A multirun's jobs are checked one by one (each gets its own run_name): only composition is checked here.
    is_multirun = "-m" in argv or "--multirun" in argv
    if is_multirun:
        os.environ[SWEPT_KEYS_ENV] = ",".join(swept_keys(argv))
    asks_plan = any(arg.partition("=")[0] == "plan" and arg.partition("=")[2].lower() != "false" for arg in argv)
    if is_multirun and asks_plan:
        fail("plan=true sizes one job: drop -m/--multirun and the swept values")  # the jobs would train
    for arg in argv:
        wanted = _EVALUATION_KEYS.get(config_name, {}).get(arg.partition("=")[0])
        if wanted and "=" in arg:
            fail(f"{config_name}.py takes {wanted}, not {arg.partition('=')[0]}= (a training config group)")
    try:
        for arg in argv:  # before a multirun's Hydra creates its sweep folder <output_root>/<run_name>
            if config_name in TRAINING_CONFIGS and "=" in arg and arg.partition("=")[0].lstrip("+") == "run_name":
                check_run_name(arg.partition("=")[2])
    except ConfigError as exc:
        fail(str(exc))
    if any(arg.split("=", 1)[0] in _HYDRA_ONLY for arg in argv):
        return None
    try:
        cfg = compose(config_name, [arg for arg in argv if "=" in arg and not arg.startswith("-")])
        if config_name in TRAINING_CONFIGS and cfg.get("plan"):
            print_plan(config_name, cfg)
        if is_multirun:
            return None
        if any(arg.partition("=")[0] in _PRINT_ONLY for arg in argv):
            check_config(config_name, cfg)
        elif config_name in TRAINING_CONFIGS:
            check_job(config_name, cfg)
        elif config_name in EVALUATION_CONFIGS:
            check_evaluation(config_name, cfg)
    except ConfigError as exc:
        fail(str(exc))
    return cfg


def check_evaluation(config_name: str, cfg: Any) -> None:
    """An evaluation's whole check that needs no model (config, output folder, input files, data split, policy
    path), before Hydra creates the output folder and opens its log file in it: a refused evaluation writes nothing
    (a read-only folder would fail there with a traceback). Then the folder is claimed, as :func:`check_job` claims
    a run folder."""
    from reasoning_irl.evaluation.output_dir import claim_output_dir

    if config_name == "evaluate":
        from reasoning_irl.evaluation.policy_eval import check_evaluate as check
    else:
        from reasoning_irl.evaluation.reward_eval import check_evaluate_irl as check
    claim_output_dir(check(cfg))


# Keys the evaluators spell otherwise: the training scripts' config groups of the same name would take the value.
_EVALUATION_KEYS = {
    name: {"reward_model": "a saved reward model as reward_model_path=<folder>"}
    for name in ("evaluate", "evaluate_irl")
}

_PRINT_ONLY = {"-c", "--cfg"}  # Hydra prints the config and runs nothing


def check_job(config_name: str, cfg: Any) -> None:
    """The job's whole config check (schema, option pairs, run folder, resume), before Hydra creates the run folder
    and writes ``.hydra/`` into it: a refused config leaves no new folder and an existing one untouched. Then the
    run folder is claimed, so a second run into it is refused before its Hydra overwrites the first's ``.hydra/``."""
    from reasoning_irl.training.setup import check_run, claim_run_folder  # torch/TRL load only for a job

    claim_run_folder(check_run(cfg, schema_class(config_name), config_name).run_dir)


def check_config(config_name: str, cfg: Any) -> None:
    """``--cfg``/``-c``: Hydra prints the config and runs nothing, so nothing is claimed and no run folder, data,
    tracker or model is looked at; but the config itself is checked as a job checks it first (its method, every
    section against its dataclass and ``check()``, the run name, the dataset section, the model and sampling pairs a
    run refuses), so a value a job would refuse fails here in the same one line instead of being printed."""
    if config_name in EVALUATION_CONFIGS:
        from reasoning_irl.evaluation.config import typed_config

        typed_config(cfg, schema_class(config_name), announce=False)
        return
    from reasoning_irl.training.setup import checked_run_config, to_dict

    # on_this_machine=False: a config meant for a GPU machine still prints on this one
    checked_run_config(to_dict(cfg), schema_class(config_name), config_name, on_this_machine=False)


def print_plan(config_name: str, cfg: Any) -> None:
    """``plan=true``: the parameter counts and memory estimate of the job, then exit 0, before Hydra creates the
    run folder; the run folder and tracker checks are skipped (nothing will run)."""
    from reasoning_irl.training.plan import plan
    from reasoning_irl.training.setup import to_dict

    print(plan(to_dict(cfg), schema_class(config_name), config_name))
    sys.exit(0)


def replica_overrides() -> list[str]:
    """Hydra overrides for the non-main processes of a multi-process run (``RANK`` > 0, set by ``accelerate
    launch``/torchrun): no ``.hydra/`` folder and no log file of their own, so the run folder's metadata is
    written once, by the main process; they log to the console only."""
    if is_main_process():
        return []
    return ["hydra.output_subdir=null", "hydra/job_logging=stdout"]


def hydra_output_dir() -> Optional[str]:
    """The folder Hydra runs this job in (a training run folder, an evaluation's output folder), if Hydra runs it."""
    from hydra.core.hydra_config import HydraConfig

    return HydraConfig.get().runtime.output_dir if HydraConfig.initialized() else None


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
    except Exception as exc:  # a full disk or unwritable folder met by a writer that does not say so itself
        fault = storage_fault(exc)
        if fault is None:
            raise
        where = getattr(exc, "filename", None) or hydra_output_dir() or "the output folder"
        fail(f"{where}: {fault} ({fault_cause(exc)}); free space there or make it writable, then run again")
    finally:
        release_all()  # the run folder claimed before Hydra ran (check_job); a multirun's next job claims its own
    print(f"done: {result}")
    return result
