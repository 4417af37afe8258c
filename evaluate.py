"""Evaluate a policy: ``python evaluate.py policy=<run>/final [reward_model_path=<folder>] ...``.

Writes eval_results.jsonl, eval_summary.json and eval_table.md to ``output_dir`` and ends by printing the
headline rows of that table; see reasoning_irl.evaluation.policy_eval and configs/evaluate.yaml.
"""

import hydra

from reasoning_irl.cli import before_hydra, run_entry


@hydra.main(config_path="configs", config_name="evaluate", version_base="1.3")
def main(cfg) -> None:
    from reasoning_irl.evaluation.outputs import print_headline
    from reasoning_irl.evaluation.policy_eval import run_evaluate  # torch loads only when a job runs

    print_headline(run_entry(run_evaluate, cfg))


if __name__ == "__main__":
    before_hydra("evaluate")  # checks the command line before Hydra writes anything
    main()
