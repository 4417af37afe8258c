"""GRPO baseline on verifiable rewards: ``python train.py experiment=tiny_grpo [key=value ...]``."""

import hydra

from reasoning_irl.training.entry import run_entry
from reasoning_irl.training.grpo import run_grpo


@hydra.main(config_path="configs", config_name="grpo", version_base="1.3")
def main(cfg) -> None:
    run_entry(run_grpo, cfg)


if __name__ == "__main__":
    main()
