"""SFT baseline: ``python sft_train.py experiment=tiny_sft [key=value ...]``."""

import hydra

from reasoning_irl.training.entry import run_entry
from reasoning_irl.training.sft import run_sft


@hydra.main(config_path="configs", config_name="sft", version_base="1.3")
def main(cfg) -> None:
    run_entry(run_sft, cfg)


if __name__ == "__main__":
    main()
