"""Scale-out configuration: accelerate config files, the SLURM launcher preset, vLLM server keys, sweep names."""

from __future__ import annotations

import sys

import pytest
from hydra import compose as hydra_compose
from hydra import initialize_config_dir
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import OmegaConf
from trl import GRPOConfig

from reasoning_irl.cli import check_overrides, replica_overrides
from reasoning_irl.composition import compose, register_schemas
from reasoning_irl.config import config_dir, validate
from reasoning_irl.runs import SWEPT_KEYS_ENV, sweep_run_name, swept_keys
from reasoning_irl.training.airl.config import AIRLRunConfig
from reasoning_irl.training.config import GRPORunConfig
from reasoning_irl.training.setup import Run, grpo_arguments

ACCELERATE = {"ddp": "multi_gpu", "fsdp": "use_fsdp", "zero2": "use_deepspeed", "zero3": "use_deepspeed"}


@pytest.mark.parametrize("name", sorted(ACCELERATE))
def test_accelerate_config_is_accepted_by_accelerate_launch(name):
    # accelerate's own loader and the validation `accelerate launch` runs before starting any process.
    from accelerate.commands.config.config_args import load_config_from_file
    from accelerate.commands.launch import _validate_launch_command, launch_command_parser

    path = str(config_dir() / "accelerate" / f"{name}.yaml")
    assert load_config_from_file(path).num_processes == -1  # left to the command line
    parser = launch_command_parser()
    args, _, _ = _validate_launch_command(parser.parse_args(["--config_file", path, "--num_processes", "4", "x.py"]))
    assert args.num_processes == 4 and getattr(args, ACCELERATE[name]) and args.mixed_precision == "bf16"
    if name in ("ddp", "fsdp"):  # the environment the launcher hands to the processes (checks FSDP options)
        from accelerate.utils import prepare_multi_gpu_env

        assert prepare_multi_gpu_env(args)["ACCELERATE_MIXED_PRECISION"] == "bf16"
    with pytest.raises(ValueError, match="--num_processes"):
        _validate_launch_command(parser.parse_args(["--config_file", path, "x.py"]))


@pytest.mark.parametrize("primary", ["airl", "sft", "grpo", "evaluate", "evaluate_irl"])
def test_slurm_launcher_composes_from_every_entry_config(primary, monkeypatch):
    monkeypatch.setenv("REASONING_IRL_SLURM_PARTITION", "gpu-long")
    monkeypatch.setenv("REASONING_IRL_SLURM_TIMEOUT_MIN", "720")
    monkeypatch.setenv("REASONING_IRL_SLURM_GPUS_PER_NODE", "2")
    monkeypatch.delenv("REASONING_IRL_SLURM_ACCOUNT", raising=False)
    register_schemas()  # Hydra composes configs/ directly here: the schemas they extend first
    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
        cfg = hydra_compose(config_name=primary, overrides=["hydra/launcher=slurm"], return_hydra_config=True)
    HydraConfig.instance().set_config(cfg)  # the launcher's keys interpolate hydra.* (job name, sweep dir)
    try:
        launcher = OmegaConf.to_container(cfg.hydra.launcher, resolve=True)
    finally:
        HydraConfig.instance().cfg = None
    assert launcher["_target_"] == "hydra_plugins.hydra_submitit_launcher.submitit_launcher.SlurmLauncher"
    assert (launcher["partition"], launcher["timeout_min"], launcher["gpus_per_node"]) == ("gpu-long", 720, 2)
    assert launcher["account"] is None and launcher["mem_gb"] == 64  # unset: left out / the default
    assert launcher["submitit_folder"].endswith("/.submitit/%j")


@pytest.mark.parametrize("method, schema", [("grpo", GRPORunConfig), ("airl", AIRLRunConfig)])
def test_vllm_server_keys_reach_trl(method, schema, tmp_path):
    cfg = compose(
        method,
        [
            f"experiment=tiny_{method}",
            f"output_root={tmp_path}",
            "sampling.use_vllm=true",
            "sampling.vllm_mode=server",
            "sampling.vllm_server_host=10.0.0.7",
            "sampling.vllm_server_port=8123",
        ],
    )
    # Built from the validated config, as on a GPU machine: start_run refuses sampling.use_vllm=true on this CPU.
    typed = validate(OmegaConf.to_container(cfg, resolve=True), schema, "config")
    args = grpo_arguments(Run(typed, None, tmp_path / "run", None, ""), GRPOConfig)
    assert (args.use_vllm, args.vllm_mode, args.vllm_server_host, args.vllm_server_port) == (
        True,
        "server",
        "10.0.0.7",
        8123,
    )


def test_replica_processes_leave_the_run_folder_to_rank_0(monkeypatch):
    monkeypatch.delenv("RANK", raising=False)
    assert replica_overrides() == []
    monkeypatch.setenv("RANK", "1")
    assert replica_overrides() == ["hydra.output_subdir=null", "hydra/job_logging=stdout"]


def test_a_job_whose_argv_is_not_the_command_line_still_names_its_folder(monkeypatch):
    """A SLURM job runs under submitit's own argv; the swept keys come from the submitting process's environment."""
    monkeypatch.delenv(SWEPT_KEYS_ENV, raising=False)
    check_overrides("airl", ["-m", "experiment=tiny_airl", "seed=1,2", "+ablation=sparse,wgan"])
    monkeypatch.setattr(sys, "argv", ["submitit/core/_submit.py", "folder"])
    register_schemas()  # Hydra composes configs/ directly here: the schemas they extend first
    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
        cfg = hydra_compose(
            config_name="airl", overrides=["experiment=tiny_airl", "seed=2", "+ablation=wgan"], return_hydra_config=True
        )
    cfg.hydra.mode = RunMode.MULTIRUN
    HydraConfig.instance().set_config(cfg)
    try:
        sweep_run_name(cfg)
    finally:
        HydraConfig.instance().cfg = None
    assert cfg.run_name == "tiny_airl-s2/ablation=wgan,seed=2"


def test_a_list_value_is_not_a_sweep():
    argv = ["ks=[1,4,8]", "seed=choice(0,1)", "policy='a,b'", "+ablation=sparse,wgan", "x={a:1,b:2}", "y=[1],[2]"]
    assert swept_keys(argv) == ["seed", "ablation", "y"]
