"""PRIME's implicit reward model trained alone, in plain PyTorch (no project trainer code): does it learn to tell a
policy's correct samples from its wrong ones at all, and how fast?

Reads a policy's graded samples (an evaluation's eval_results.jsonl, e.g. a demo's eval/base: 200 problems x 8
samples), splits the problems into train and held-out, and trains p (a causal LM, started from --backbone) against a
frozen copy p_ref with PRIME's loss: cross-entropy of sigmoid(beta * sum_t (log p - log p_ref)) against each sample's
correctness, batches of --batch samples drawn at random from the train problems. Prints, every --every steps, the
held-out loss and AUROC of that score (0.5: no signal; the label entropy is the loss of a constant guess) for each
learning rate. One torch thread.

    python bench/prime_minimal.py --backbone outputs/demo-s0/demo_reward_base-s0/final \
        --samples outputs/demo-s0/eval/base/eval_results.jsonl --lrs 2e-4 1e-3 --steps 300
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
from pathlib import Path

import torch
import torch.nn.functional as F
import yaml
from transformers import AutoModelForCausalLM, AutoTokenizer


def run_system_prompt(backbone: str) -> str:
    """The system prompt the backbone's run trained on (its run folder's config.yaml), so that the samples are
    scored in the context their policy saw."""
    config = Path(backbone).parent / "config.yaml"
    if not config.is_file():
        raise SystemExit(f"error: {config} not found; give the prompt with --system-prompt")
    prompt = (yaml.safe_load(config.read_text()).get("dataset") or {}).get("system_prompt")
    if not prompt:
        raise SystemExit(f"error: {config} names no dataset.system_prompt; give it with --system-prompt")
    return prompt


def auroc(scores: list[float], labels: list[int]) -> float:
    """P(score of a random positive > score of a random negative), ties counted half."""
    pos = [s for s, y in zip(scores, labels) if y]
    neg = [s for s, y in zip(scores, labels) if not y]
    wins = sum((p > n) + 0.5 * (p == n) for p in pos for n in neg)
    return wins / (len(pos) * len(neg))


def encode(tokenizer, rows: list[dict], system: str) -> list[tuple[list[int], list[int], int]]:
    """(prompt ids, completion ids + end-of-turn, label) of each graded sample."""
    out = []
    for r in rows:
        messages = [{"role": "system", "content": system}, {"role": "user", "content": r["question"]}]
        prompt = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True)
        prompt = list(prompt["input_ids"] if isinstance(prompt, dict) or hasattr(prompt, "keys") else prompt)
        completion = tokenizer(r["completion"], add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
        out.append((prompt, completion, int(bool(r["correct"]))))
    return out


def completion_logps(model, batch: list[tuple[list[int], list[int], int]], pad: int) -> torch.Tensor:
    """(B,) sum over completion tokens of log p(token | prefix), right-padded rows."""
    rows = [p + c for p, c, _ in batch]
    width = max(map(len, rows))
    ids = torch.full((len(rows), width), pad, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    scored = torch.zeros((len(rows), width), dtype=torch.bool)
    for i, ((p, _, _), row) in enumerate(zip(batch, rows)):
        ids[i, : len(row)] = torch.tensor(row)
        mask[i, : len(row)] = 1
        scored[i, len(p) : len(row)] = True
    logits = model(input_ids=ids, attention_mask=mask).logits[:, :-1].float()
    picked = torch.log_softmax(logits, -1).gather(-1, ids[:, 1:, None]).squeeze(-1)
    return (picked * scored[:, 1:]).sum(-1)


def scores(model, ref, data, pad: int, beta: float, size: int = 64) -> torch.Tensor:
    with torch.no_grad():
        parts = [
            beta * (completion_logps(model, data[i : i + size], pad) - completion_logps(ref, data[i : i + size], pad))
            for i in range(0, len(data), size)
        ]
    return torch.cat(parts)


def run(args, lr: float, train, held, tokenizer) -> list[tuple[int, float, float]]:
    torch.manual_seed(args.seed)
    model = AutoModelForCausalLM.from_pretrained(args.backbone).train()
    ref = AutoModelForCausalLM.from_pretrained(args.backbone).eval().requires_grad_(False)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    rng = random.Random(args.seed)
    labels = torch.tensor([y for _, _, y in held], dtype=torch.float32)
    curve = []
    for step in range(args.steps + 1):
        if step % args.every == 0:
            model.eval()
            s = scores(model, ref, held, pad, args.beta)
            loss = F.binary_cross_entropy_with_logits(s, labels).item()
            curve.append((step, loss, auroc(s.tolist(), labels.int().tolist())))
            model.train()
        if step == args.steps:
            break
        batch = rng.sample(train, args.batch)
        y = torch.tensor([b[2] for b in batch], dtype=torch.float32)
        with torch.no_grad():
            base = completion_logps(ref, batch, pad)
        s = args.beta * (completion_logps(model, batch, pad) - base)
        loss = F.binary_cross_entropy_with_logits(s, y)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
    return curve


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--backbone", required=True, help="the reward LM's starting folder (p and p_ref)")
    ap.add_argument("--samples", required=True, help="graded samples: an evaluation's eval_results.jsonl")
    ap.add_argument("--system-prompt", help="default: the one in the backbone run's config.yaml")
    ap.add_argument("--beta", type=float, default=0.05)
    ap.add_argument("--lrs", type=float, nargs="+", default=[2e-4])
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--every", type=int, default=50)
    ap.add_argument("--held-out-problems", type=int, default=50)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    system = args.system_prompt or run_system_prompt(args.backbone)
    tokenizer = AutoTokenizer.from_pretrained(args.backbone)
    rows = [json.loads(line) for line in open(args.samples, encoding="utf-8")]
    rows = [r for r in rows if not r.get("greedy")]
    problems = sorted({r["problem_id"] for r in rows})
    held_ids = set(problems[-args.held_out_problems :])
    train = encode(tokenizer, [r for r in rows if r["problem_id"] not in held_ids], system)
    held = encode(tokenizer, [r for r in rows if r["problem_id"] in held_ids], system)
    rate = sum(y for _, _, y in held) / len(held)
    entropy = -(rate * math.log(rate) + (1 - rate) * math.log(1 - rate))
    print(
        f"{len(train)} train samples, {len(held)} held-out ({rate:.3f} correct: a constant guess's loss {entropy:.3f})"
    )
    print(f"beta {args.beta}, batch {args.batch}, seed {args.seed}")
    print("| lr | step | held-out loss | held-out AUROC |")
    print("|---|---|---|---|")
    for lr in args.lrs:
        for step, loss, auc in run(args, lr, train, held, tokenizer):
            print(f"| {lr:g} | {step} | {loss:.3f} | {auc:.3f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
