"""GRPO on verifiable rewards, or on the reference answer's likelihood (method.reward_source=verifree):
``python train.py experiment=tiny_grpo [key=value ...]``."""

import sys

import hydra

from reasoning_irl.cli import check_overrides, replica_overrides, run_entry


@hydra.main(config_path="configs", config_name="grpo", version_base="1.3")
def main(cfg) -> None:
    from reasoning_irl.training.grpo import run_grpo  # torch/TRL load only when a job runs (not for --cfg, errors)

    run_entry(run_grpo, cfg)


if __name__ == "__main__":
    check_overrides("grpo")
    sys.argv += replica_overrides()  # under accelerate launch: Hydra writes the run folder once
    main()
