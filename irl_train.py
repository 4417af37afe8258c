"""AIRL: learn a dense token reward from expert traces while training the policy with it.

python irl_train.py experiment=tiny_airl [+ablation=<name>] [key=value ...]
"""

import hydra

from reasoning_irl.cli import before_hydra, run_entry


@hydra.main(config_path="configs", config_name="airl", version_base="1.3")
def main(cfg) -> None:
    from reasoning_irl.training.airl.run import run_airl  # torch/TRL load only when a job runs

    run_entry(run_airl, cfg)


if __name__ == "__main__":
    before_hydra("airl")  # checks the command line before Hydra writes anything
    main()
