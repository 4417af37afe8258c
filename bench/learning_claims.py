"""Every quantity the suite's learning claims assert, over seeds, on this CPU kind or with another kind forced, and
under deliberately broken settings; prints one row per claim and seed with the bounds the tests assert.

    python bench/learning_claims.py [--seeds 0 1 2] [--isa native|avx2] [--claims ...] [--broken] [--out DIR]

The runs are the tests' own (tests/training/claim_runs.py), at one torch thread like the suite. ``--isa avx2``
caps PyTorch's kernels (ATEN_CPU_CAPABILITY), oneDNN's (DNNL_MAX_CPU_ISA) and MKL's (MKL_ENABLE_INSTRUCTIONS) at
AVX2 before torch loads, to imitate a machine without AVX-512 (docs/reliability.md says how close it comes).
``--broken`` adds, for each claim, a run that must fail it (no policy or discriminator learning, or a reward that
carries no signal). ``--json FILE`` appends every row as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
AVX2_CAPS = {"ATEN_CPU_CAPABILITY": "avx2", "DNNL_MAX_CPU_ISA": "AVX2", "MKL_ENABLE_INSTRUCTIONS": "AVX2"}

# What breaks each claim: learning switched off where the claim says learning happens, or a reward with no signal.
BROKEN = {
    "rerank": [
        ("method.disc_learning_rate=0",),  # the reward model never learns: f is its backbone's log-density
        ("method.disc_learning_rate=0", "method.reward_lm_prior=false"),  # f is the untrained head alone
    ],
    "grpo_habit": [("training.learning_rate=0",)],  # the policy never moves
    "airl_habit": [("training.learning_rate=0",)],
    "full_set": [("method.disc_learning_rate=0",)],
    "tiny_separation": [("method.disc_learning_rate=0",)],
    "sft_loss": [("training.learning_rate=0",)],
}


def measure(claim: str, seed: int, out: Path, artifacts: Path, broken: tuple[str, ...], cache: dict) -> dict:
    import claim_runs as runs  # after the ISA caps are in the environment: it imports torch

    def base() -> Path:  # a finished one in ``out`` is reused (a rerun adds claims or variants to a seed)
        done = next((out / f"base-s{seed}").glob("*/final"), None)
        if ("base", seed) not in cache:
            cache["base", seed] = done.parent if done else runs.reward_base(out / f"base-s{seed}", artifacts, seed)
        return cache["base", seed]

    def habit() -> Path:
        done = next((out / f"habit-s{seed}").glob("*/final"), None)
        if ("habit", seed) not in cache:
            cache["habit", seed] = done or runs.habit_base(out / f"habit-s{seed}", artifacts, base(), seed)
        return cache["habit", seed]

    tag = "-".join(o.split(".")[-1].replace("=", "") for o in broken) if broken else "normal"
    where = out / f"{claim}-{tag}-s{seed}"
    if claim == "rerank":
        return runs.rerank(where, artifacts, base(), seed, broken)
    if claim in ("grpo_habit", "airl_habit"):
        return runs.habit_curve(claim.split("_")[0], where, artifacts, habit(), base(), seed, broken)
    if claim == "full_set":
        return runs.full_set(where, artifacts, base(), seed, broken)
    if claim == "tiny_separation":
        from reasoning_irl.training.airl.run import run_airl

        return runs.tiny_separation(run_airl(runs.tiny_separation_config(where, artifacts, seed, broken)))
    if claim == "sft_loss":
        from reasoning_irl.training.sft import run_sft

        return runs.sft_losses(run_sft(runs.tiny_sft_config(where, artifacts, seed, broken)))
    raise ValueError(claim)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--isa", choices=["native", "avx2"], default="native")
    parser.add_argument("--claims", nargs="+", choices=sorted(BROKEN), default=sorted(BROKEN))
    parser.add_argument("--broken", action="store_true", help="also run each claim's broken variants")
    parser.add_argument("--only-broken", action="store_true", help="the broken variants alone")
    parser.add_argument("--out", default=None, help="output root (default: a temporary folder)")
    parser.add_argument("--json", default=None, help="append each row as JSON to this file")
    args = parser.parse_args(argv)
    if args.isa == "avx2":
        os.environ.update(AVX2_CAPS)  # before torch is imported (by claim_runs)
    sys.path.insert(0, str(REPO / "tests" / "training"))
    import torch

    from reasoning_irl.models import ensure_tiny_model

    torch.set_num_threads(1)  # the suite's setting; results do not depend on it (docs/reliability.md)
    out = Path(args.out or tempfile.mkdtemp(prefix="learning-claims-"))
    artifacts = out / "artifacts"
    ensure_tiny_model(artifacts / "tiny-qwen2-policy", arch="qwen2", preset="policy")
    print(f"cpu capability {torch.backends.cpu.get_cpu_capability()}, torch {torch.__version__}, out {out}")
    cache: dict = {}
    for seed in args.seeds:
        for claim in args.claims:
            variants = ([] if args.only_broken else [()]) + (BROKEN[claim] if args.broken or args.only_broken else [])
            for broken in variants:
                start = time.perf_counter()
                values = measure(claim, seed, out, artifacts, broken, cache)
                row = {"claim": claim, "seed": seed, "isa": args.isa, "broken": list(broken), **values}
                row["seconds"] = round(time.perf_counter() - start, 1)
                print(json.dumps(row), flush=True)
                if args.json:
                    with open(args.json, "a") as f:
                        f.write(json.dumps(row) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
