"""A frozen LM's likelihood as a token reward model, measured as a learned one is: does it prefer expert traces to their
perturbed copies, and is its lowest step the first corrupted one?

    python bench/frozen_lm_reward.py --model artifacts/smollm2-135m-instruct --out outputs/frozen-lm \
        [evaluate_irl overrides, e.g. dataset=gsm8k dataset.path=../shared/data/gsm8k num_problems=100]

The reward model is the project's own token reward model with the LM prior and nothing trained: reward of a token =
the frozen model's log-probability of it given the prompt and the tokens before it (``TokenRewardModel(lm_prior=True)``,
whose scalar head starts at zero), i.e. the perplexity reward of the verifier-free comparison, per token. It is saved
once into ``<out>/reward_model`` and evaluate_irl.py runs on it (its outputs in ``<out>/eval_irl``), so the numbers
come out in the same table, with the same baselines and CIs, as a trained discriminator's.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from reasoning_irl.composition import compose
from reasoning_irl.evaluation.reward_eval import run_evaluate_irl
from reasoning_irl.models.loading import load_tokenizer
from reasoning_irl.models.reward_model import TokenRewardModel


def frozen_lm_reward_model(model: Path, out: Path) -> Path:
    """``<out>/reward_model``: the frozen LM's log-density as a saved token reward model (built once)."""
    folder = out / "reward_model"
    if not folder.is_dir():
        reward = TokenRewardModel(str(model), lm_prior=True)  # no LoRA: nothing can move
        reward.prompt = {"system_prompt": None, "no_system": False}  # the datasets' default system prompt
        reward.save(folder, tokenizer=load_tokenizer(str(model)))
    return folder


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, required=True, help="the frozen LM's folder")
    parser.add_argument("--out", type=Path, required=True)
    args, overrides = parser.parse_known_args(argv)
    folder = frozen_lm_reward_model(args.model, args.out)
    cfg = compose("evaluate_irl", [f"reward_model_path={folder}", f"output_dir={args.out / 'eval_irl'}", *overrides])
    print(f"done: {run_evaluate_irl(cfg)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
