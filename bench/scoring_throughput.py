"""Tokens/s of batched per-policy-token reward scoring vs the one-row-at-a-time loop, on the same inputs.

    python bench/scoring_throughput.py [--problems 64] [--samples 8] [--batch-size 32] [--threads 1] [--repeat 3]
                                       [--artifacts DIR] [--reward-model DIR] [--policy-tokenizer DIR]

Default: the tiny Qwen2 reward backbone with a fresh LoRA reward model (random head) and the tiny policy
tokenizer (built under --artifacts on first use); completions are the synthetic test problems' expert
targets cut at random lengths, as policy token ids. "tokens" are policy completion tokens (one reward each);
"input tokens" are each row's prompt + completion, i.e. what a one-row scorer reads. Every path includes the
row preparation (prompt rendering/tokenisation, alignment); its own time is printed as "rows". Batched =
prompt shared by a problem's samples (run once, completions continue from its cache); "whole rows" = the
same batches without that sharing. Times are the best of --repeat runs. All give the same rewards (1e-4).
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

import torch


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problems", type=int, default=64)
    parser.add_argument("--samples", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads (0 = torch default)")
    parser.add_argument("--artifacts", default="artifacts")
    parser.add_argument("--reward-model", default=None, help="a saved reward model folder (default: fresh tiny one)")
    parser.add_argument("--policy-tokenizer", default=None, help="policy tokenizer folder (default: tiny policy)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-merge", action="store_true", help="keep the LoRA adapter unmerged")
    parser.add_argument("--repeat", type=int, default=3, help="best of this many timed runs per path")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    from reasoning_irl.data import load_split
    from reasoning_irl.models import ensure_tiny_model
    from reasoning_irl.models.config import LoraSettings
    from reasoning_irl.models.loading import load_tokenizer
    from reasoning_irl.models.reward_model import TokenRewardModel, load_reward_model
    from reasoning_irl.models.scoring import (
        build_rows,
        merged_for_inference,
        score_policy_tokens,
        score_policy_tokens_loop,
    )

    device = "cuda" if torch.cuda.is_available() else "cpu"
    if args.reward_model:
        model, rtok = load_reward_model(args.reward_model)
    else:
        backbone = ensure_tiny_model(Path(args.artifacts) / "tiny-qwen2-reward", arch="qwen2", preset="reward")
        torch.manual_seed(args.seed)
        model, rtok = TokenRewardModel(str(backbone), lora=LoraSettings(r=8, alpha=16)), load_tokenizer(str(backbone))
    if not args.no_merge:
        merged_for_inference(model)
    model.to(device).eval()
    ptok_path = args.policy_tokenizer or str(
        ensure_tiny_model(Path(args.artifacts) / "tiny-qwen2-policy", arch="qwen2", preset="policy")
    )
    ptok = load_tokenizer(ptok_path)

    records = load_split({"name": "synthetic", "num_test": max(args.problems, 8)}, "test")[: args.problems]
    rng = random.Random(args.seed)
    prompts, completions = [], []
    for r in records:
        ids = ptok(r["target"], add_special_tokens=False)["input_ids"] + [ptok.eos_token_id]
        for _ in range(args.samples):
            prompts.append(r["prompt"])
            completions.append(ids[: rng.randint(max(1, len(ids) // 3), len(ids))])
    n_tokens = sum(map(len, completions))
    n_input = sum(len(row.ids) for row in build_rows(rtok, ptok, prompts, completions))

    runs = {
        "rows": lambda: build_rows(rtok, ptok, prompts, completions),
        "batched": lambda: score_policy_tokens(model, rtok, ptok, prompts, completions, batch_size=args.batch_size),
        "whole rows": lambda: score_policy_tokens(
            model, rtok, ptok, prompts, completions, batch_size=args.batch_size, share_prompts=False
        ),
        "loop": lambda: score_policy_tokens_loop(model, rtok, ptok, prompts, completions),
    }
    score_policy_tokens(model, rtok, ptok, prompts[:16], completions[:16], batch_size=8)  # warm-up
    best, results = {name: float("inf") for name in runs}, {}
    for _ in range(max(1, args.repeat)):  # interleaved, so a busy spell on the machine hits every path
        for name, run in runs.items():
            t0 = time.perf_counter()
            results[name] = run()
            best[name] = min(best[name], time.perf_counter() - t0)
    diff = max(
        (
            abs(a - b)
            for other in ("batched", "whole rows")
            for x, y in zip(results[other], results["loop"])
            for a, b in zip(x, y)
        ),
        default=0.0,
    )

    print(
        f"{len(completions)} completions ({args.problems} problems x {args.samples} samples), "
        f"{n_tokens} policy tokens, {n_input} reward-model input tokens, device {device}, "
        f"{torch.get_num_threads()} threads, best of {max(1, args.repeat)}"
    )
    print(f"rows (tokenise+align, inside every path): {best['rows']:.3f} s")
    for name in ("batched", "whole rows", "loop"):
        label = f"{name} (batch {args.batch_size})" if name != "loop" else "loop (one row)"
        t = best[name]
        print(f"{label + ':':<25} {t:.3f} s  {n_tokens / t:,.0f} tokens/s  ({n_input / t:,.0f} input tokens/s)")
    print(
        f"speed-up vs loop: batched {best['loop'] / best['batched']:.1f}x, whole rows "
        f"{best['loop'] / best['whole rows']:.1f}x   max |batched - loop| = {diff:.2e}"
    )
    return 0 if diff < 1e-4 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
