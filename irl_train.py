"""AIRL: learn a dense token reward from expert traces while training the policy with it.

python irl_train.py experiment=tiny_airl [+ablation=<name>] [key=value ...]
"""

import sys

import hydra

from reasoning_irl.cli import check_overrides, replica_overrides, run_entry


@hydra.main(config_path="configs", config_name="airl", version_base="1.3")
def main(cfg) -> None:
    from reasoning_irl.training.airl.run import run_airl  # torch/TRL load only when a job runs

    run_entry(run_airl, cfg)


if __name__ == "__main__":
    check_overrides("airl")
    sys.argv += replica_overrides()  # under accelerate launch: Hydra writes the run folder once
    main()
