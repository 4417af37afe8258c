"""Tokens/s of batched per-policy-token reward scoring vs the one-row-at-a-time loop, on the same inputs.

    python bench/scoring_throughput.py [--problems 64] [--samples 8] [--batch-size 32] [--threads 1]
                                       [--artifacts DIR] [--reward-model DIR] [--policy-tokenizer DIR]

Default: the tiny Qwen2 reward backbone with a fresh LoRA reward model (random head) and the tiny policy
tokenizer (built under --artifacts on first use); completions are the synthetic test problems' expert
targets cut at random lengths, as policy token ids. Both paths give the same rewards (checked here to
1e-4); "tokens" are policy completion tokens, and prompt+completion input tokens are reported too.
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
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    from reasoning_irl.data import load_split
    from reasoning_irl.evaluation.scoring import (
        build_rows, merged_for_inference, score_policy_tokens, score_policy_tokens_loop,
    )
    from reasoning_irl.models import ensure_tiny_model
    from reasoning_irl.models.config import LoraSettings
    from reasoning_irl.models.loading import load_tokenizer
    from reasoning_irl.models.reward_model import TokenRewardModel, load_reward_model

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
    ptok_path = args.policy_tokenizer or str(ensure_tiny_model(Path(args.artifacts) / "tiny-qwen2-policy",
                                                                arch="qwen2", preset="policy"))
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

    score_policy_tokens(model, rtok, ptok, prompts[:8], completions[:8], batch_size=8)  # warm-up
    t0 = time.perf_counter()
    batched = score_policy_tokens(model, rtok, ptok, prompts, completions, batch_size=args.batch_size)
    t_batched = time.perf_counter() - t0
    t0 = time.perf_counter()
    loop = score_policy_tokens_loop(model, rtok, ptok, prompts, completions)
    t_loop = time.perf_counter() - t0
    diff = max((abs(a - b) for x, y in zip(batched, loop) for a, b in zip(x, y)), default=0.0)

    print(f"{len(completions)} completions ({args.problems} problems x {args.samples} samples), "
          f"{n_tokens} policy tokens, {n_input} reward-model input tokens, device {device}, "
          f"{torch.get_num_threads()} threads")
    print(f"batched (batch {args.batch_size}): {t_batched:.3f} s  {n_tokens / t_batched:,.0f} tokens/s  "
          f"({n_input / t_batched:,.0f} input tokens/s)")
    print(f"loop (one row):     {t_loop:.3f} s  {n_tokens / t_loop:,.0f} tokens/s  ({n_input / t_loop:,.0f} input tokens/s)")
    print(f"speed-up: {t_loop / t_batched:.1f}x   max |batched - loop| = {diff:.2e}")
    return 0 if diff < 1e-4 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
