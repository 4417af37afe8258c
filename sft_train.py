"""SFT baseline: ``python sft_train.py experiment=tiny_sft [key=value ...]``."""

import sys

import hydra

from reasoning_irl.cli import check_overrides, replica_overrides, run_entry


@hydra.main(config_path="configs", config_name="sft", version_base="1.3")
def main(cfg) -> None:
    from reasoning_irl.training.sft import run_sft  # torch/TRL load only when a job runs (not for --cfg, errors)

    run_entry(run_sft, cfg)


if __name__ == "__main__":
    check_overrides("sft")
    sys.argv += replica_overrides()  # under accelerate launch: Hydra writes the run folder once
    main()
