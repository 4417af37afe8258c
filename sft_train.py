"""SFT baseline: ``python sft_train.py experiment=tiny_sft [key=value ...]``."""

import hydra

from reasoning_irl.cli import before_hydra, run_entry


@hydra.main(config_path="configs", config_name="sft", version_base="1.3")
def main(cfg) -> None:
    from reasoning_irl.training.sft import run_sft  # torch/TRL load only when a job runs (not for --cfg, errors)

    run_entry(run_sft, cfg)


if __name__ == "__main__":
    before_hydra("sft")  # checks the command line before Hydra writes anything
    main()
