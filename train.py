"""GRPO on verifiable rewards, or on the reference answer's likelihood (method.reward_source=verifree):
``python train.py experiment=tiny_grpo [key=value ...]``."""

import hydra

from reasoning_irl.cli import before_hydra, run_entry


@hydra.main(config_path="configs", config_name="grpo", version_base="1.3")
def main(cfg) -> None:
    from reasoning_irl.training.grpo import run_grpo  # torch/TRL load only when a job runs (not for --cfg, errors)

    run_entry(run_grpo, cfg)


if __name__ == "__main__":
    before_hydra("grpo")  # checks the command line before Hydra writes anything
    main()
