"""Reward-model diagnostics: ``python evaluate_irl.py reward_model_path=<folder> ...``.

Writes irl_diagnostics.json, irl_diagnostics.md and irl_traces.jsonl to ``output_dir``; see
reasoning_irl.evaluation.reward_eval and configs/evaluate_irl.yaml.
"""

import hydra

from reasoning_irl.cli import before_hydra, run_entry


@hydra.main(config_path="configs", config_name="evaluate_irl", version_base="1.3")
def main(cfg) -> None:
    from reasoning_irl.evaluation.reward_eval import run_evaluate_irl  # torch loads only when a job runs

    run_entry(run_evaluate_irl, cfg)


if __name__ == "__main__":
    before_hydra("evaluate_irl")  # checks the command line before Hydra writes anything
    main()
