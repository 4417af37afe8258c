"""Seconds per training step of plain GRPO vs AIRL on the same policy, prompts, group size and lengths.

    python bench/step_cost.py [--steps 6] [--completion-length 48] [--out DIR] [overrides ...]

Both runs use the tiny presets (a ~0.8M-parameter Qwen2 policy; the AIRL discriminator is the tiny
reward preset), every completion forced to the same length so the generation work is identical.
Step 1 (warm-up: model build, first kernels) is excluded. Extra arguments are Hydra overrides
applied to both runs, e.g. ``model=qwen2.5-3b-instruct`` on a GPU; ``--airl KEY=VALUE`` applies to AIRL only
(``--airl method.disc_updates_per_step=1 --airl method.perturbations_per_expert=2`` gives the paper's
discriminator work per step; the tiny preset itself does 16 updates on 8 perturbations per expert).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

from reasoning_irl.composition import compose
from reasoning_irl.training.airl.run import run_airl
from reasoning_irl.training.grpo import run_grpo

PHASES = ("time/generate", "time/disc_update", "time/score_and_advantage", "time/policy_loss", "step_time")


def measure(run_fn, config: str, overrides: list[str], steps: int) -> dict[str, float]:
    run_dir = run_fn(compose(config, overrides))
    rows = [json.loads(line) for line in (Path(run_dir) / "metrics.jsonl").read_text().splitlines()]
    rows = [r for r in rows if "step_time" in r and r["step"] > 1]  # step 1 is warm-up
    return {k: statistics.mean(r[k] for r in rows) for k in PHASES if rows and k in rows[0]}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--completion-length", type=int, default=48)
    parser.add_argument("--out", default=None, help="output root (default: a temporary folder)")
    parser.add_argument(
        "--airl",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="an override for the AIRL run only (repeatable), e.g. method.disc_updates_per_step=1",
    )
    args, overrides = parser.parse_known_args(argv)
    out = args.out or tempfile.mkdtemp(prefix="step_cost-")
    length = args.completion_length
    common = [
        f"output_root={out}",
        f"artifacts_dir={out}/artifacts",
        f"training.max_steps={args.steps}",
        f"training.save_steps={args.steps * 10}",
        "training.logging_steps=1",
        f"sampling.max_completion_length={length}",
        f"sampling.min_completion_length={length}",
        *overrides,
    ]
    grpo = measure(run_grpo, "grpo", ["experiment=tiny_grpo", "run_name=bench-grpo", *common], args.steps)
    airl = measure(run_airl, "airl", ["experiment=tiny_airl", "run_name=bench-airl", *common, *args.airl], args.steps)
    print(f"seconds per step (mean of steps 2..{args.steps}, completions of {length} tokens)")
    print(f"{'phase':28s} {'GRPO':>8s} {'AIRL':>8s}")
    for key in PHASES:
        print(f"{key:28s} {grpo.get(key, float('nan')):8.3f} {airl.get(key, float('nan')):8.3f}")
    ratio = airl["step_time"] / grpo["step_time"]
    print(f"AIRL / GRPO step time: {ratio:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
