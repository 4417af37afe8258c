"""`make real`: SmolLM2-135M-Instruct (`make real-model`) through every stage once, on real GSM8K, on this CPU.

    python bench/real_model.py [--artifacts artifacts] [--out outputs/real] [--threads 2] [--eval-problems 16]
        [--irl-problems 40] [--score-rows 8]

Each stage is the entry script a researcher runs, in its own process: SFT, GRPO and AIRL a few steps each
(experiment=real_smollm2_{sft,grpo,airl}), evaluate.py on the first test problems with the AIRL run's reward model
reranking the samples, evaluate_irl.py on perturbed copies of GSM8K test solutions (both on the whole test split: the
runs' configs read the presets' 2% slice of it), the scoring command on GSM8K test rows, and plan=true of the AIRL
preset in float32. Printed per stage, and kept in <out>/logs/report-<time>.json: seconds, peak resident memory (the
process's high-water mark), and what it measured itself (step times, generated tokens per second); then the plan's
estimate against the AIRL process's measured peak, and where every output is. A stage whose output is complete is
skipped (delete --out to start over); a failing stage stops the script and names its log.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from reasoning_irl.runs import read_jsonl
from reasoning_irl.training.callbacks import read_rows

REPO = Path(__file__).resolve().parents[1]
GIB = 2**30
GSM8K = "../shared/data/gsm8k"  # as the real_smollm2 presets read it: beside the clone


@dataclass
class Stage:
    name: str
    argv: list[str]
    done: Path  # the file whose presence means the stage is complete
    seconds: float = 0.0
    peak_gib: float = 0.0
    notes: list[str] = field(default_factory=list)


def stages(args: argparse.Namespace) -> list[Stage]:
    out, py = args.out, sys.executable
    common = [f"artifacts_dir={args.artifacts}", f"output_root={out}", f"seed={args.seed}"]
    airl = out / f"real_smollm2_airl-s{args.seed}"
    return [
        Stage("sft", [py, "sft_train.py", "experiment=real_smollm2_sft", *common], out / f"real_smollm2_sft-s{args.seed}" / "final"),
        Stage("grpo", [py, "train.py", "experiment=real_smollm2_grpo", *common], out / f"real_smollm2_grpo-s{args.seed}" / "final"),
        Stage("airl", [py, "irl_train.py", "experiment=real_smollm2_airl", *common], airl / "reward_model"),
        Stage(
            "evaluate (AIRL policy, AIRL reward reranking)",
            [
                py, "evaluate.py", f"policy={airl}/final", f"reward_model_path={airl}/reward_model", *common[:2],
                f"num_problems={args.eval_problems}", "dataset.ratio=1.0", "sampling.num_samples=4", "ks=[1,4]",
                f"sampling.max_new_tokens={args.max_new_tokens}", "progress=false", f"output_dir={out}/eval-airl",
            ],
            out / "eval-airl" / "eval_summary.json",
        ),
        Stage(
            "evaluate_irl (GSM8K perturbations)",
            [py, "evaluate_irl.py", f"reward_model_path={airl}/reward_model", *common[:2],
             f"num_problems={args.irl_problems}", "dataset.ratio=1.0", f"output_dir={out}/eval_irl-airl"],
            out / "eval_irl-airl" / "irl_diagnostics.json",
        ),
        Stage(
            "score (GSM8K test rows)",
            [py, "-m", "reasoning_irl.score", f"reward_model_path={airl}/reward_model", f"input={GSM8K}/test.jsonl",
             f"limit={args.score_rows}", f"output={out}/scores"],
            out / "scores" / "scores.jsonl",
        ),
    ]  # fmt: skip


def run(stage: Stage, env: dict[str, str], logs: Path) -> int:
    """Run one stage; its seconds and peak resident memory (the child's ru_maxrss, KiB on Linux) go into ``stage``."""
    log = logs / f"{stage.name.split()[0]}.log"
    print(f"\n== {stage.name}\n+ {' '.join(stage.argv[1:])}", flush=True)
    start = time.perf_counter()
    with open(log, "w") as sink:
        child = subprocess.Popen(stage.argv, cwd=REPO, env=env, stdout=sink, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(child.pid, 0)
    stage.seconds = time.perf_counter() - start
    stage.peak_gib = usage.ru_maxrss * 1024 / GIB
    code = os.waitstatus_to_exitcode(status)
    if code:
        tail = log.read_text(errors="replace").strip().splitlines()[-3:]
        print(f"error: stage {stage.name} failed (exit {code}); its log: {log}", file=sys.stderr)
        print("\n".join("  " + line for line in tail), file=sys.stderr)
    return code


def metrics_rows(run_dir: Path) -> list[dict]:
    path = run_dir / "metrics.jsonl"
    return read_rows(path) if path.is_file() else []


def describe(stage: Stage) -> None:
    """What the stage measured itself: step times and sampling speed (training), tokens per second (evaluation)."""
    if stage.name in ("sft", "grpo", "airl"):
        every = metrics_rows(stage.done.parent)
        rows = [r for r in every if "step_time" in r]
        if rows:
            times = [r["step_time"] for r in rows]
            stage.notes.append(f"{len(rows)} steps, {statistics.mean(times):.1f} s a step (first {times[0]:.1f} s)")
        elif runtime := next((r for r in every if "train_runtime" in r), None):  # SFT logs no step_time
            steps = runtime["step"]
            stage.notes.append(
                f"{steps} steps in {runtime['train_runtime']:.0f} s: {runtime['train_runtime'] / steps:.1f} s a step"
            )
        for r in rows:
            if "time/generate" in r and "completions/mean_length" in r:
                stage.notes.append(
                    f"sampling {r['completions/mean_length']:.0f} tokens a completion "
                    f"({r['completions/clipped_ratio']:.0%} cut at the length limit) in {r['time/generate']:.1f} s"
                )
                break
        if any("disc/loss" in r for r in rows):
            disc = statistics.mean(r["time/disc_update"] for r in rows if "time/disc_update" in r)
            stage.notes.append(f"discriminator update {disc:.1f} s a step")
    elif stage.name.startswith("evaluate ("):
        rows = read_jsonl(stage.done.parent / "eval_results.jsonl")
        tokens = sum(len(r["completion_ids"]) for r in rows)
        summary = json.loads(stage.done.read_text())["metrics"]
        value = {k: v["value"] for k, v in summary.items()}
        stage.notes.append(
            f"{len(rows)} completions, {tokens} tokens: {tokens / stage.seconds:.1f} tokens/s (whole stage)"
        )
        stage.notes.append(
            f"greedy {value['greedy_accuracy']:.3f}, pass@1 {value['pass@1']:.3f}, random@1|4 {value['random@1|4']:.3f}, "
            f"rerank@1|4 (mean reward) {value.get('success@1|4/mean', float('nan')):.3f}"
        )
    elif stage.name.startswith("evaluate_irl"):
        diag = json.loads(stage.done.read_text())
        stage.notes.append(
            f"{diag['n_perturbed']} perturbed copies: pairwise accuracy {diag['pairwise_accuracy']['value']:.3f}, "
            f"localisation {diag['localization']['value']:.3f} (uniform guess {diag['localization']['chance']:.3f})"
        )
    elif stage.name.startswith("score"):
        stage.notes.append(f"{len(read_jsonl(stage.done))} rows scored")


PEAK = re.compile(r"^peak: .*= ([0-9.]+) GiB", re.M)
CUDA_CONTEXT_GIB = 1.0  # the plan's assumed CUDA context and allocator slack: not held by a CPU process


def plan_against(airl: Stage, args: argparse.Namespace, env: dict[str, str], baseline_gib: float) -> str:
    """plan=true of the AIRL preset in float32 (what this CPU run holds) against the AIRL process's peak."""
    argv = [sys.executable, "irl_train.py", "experiment=real_smollm2_airl", f"artifacts_dir={args.artifacts}",
            f"output_root={args.out}", "plan=true", "model.dtype=float32", "reward_model.dtype=float32"]  # fmt: skip
    done = subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True)
    (args.out / "logs" / "plan.txt").write_text(done.stdout + done.stderr)
    match = PEAK.search(done.stdout)
    if done.returncode or not match:
        return f"plan=true failed (exit {done.returncode}): {args.out / 'logs' / 'plan.txt'}"
    planned = float(match[1]) - CUDA_CONTEXT_GIB
    measured = airl.peak_gib - baseline_gib
    return (
        f"plan=true (float32): {planned:.2f} GiB of tensors at the peak (its {match[1]} GiB less the assumed "
        f"{CUDA_CONTEXT_GIB:g} GiB CUDA context); measured: AIRL process peak {airl.peak_gib:.2f} GiB less "
        f"{baseline_gib:.2f} GiB for the interpreter and libraries = {measured:.2f} GiB "
        f"({(planned - measured) / measured:+.0%})"
    )


def baseline(env: dict[str, str]) -> float:
    """Peak resident memory of a process that imports what the AIRL entry script imports and loads nothing."""
    code = "import reasoning_irl.training.airl.run, trl, peft, torch; torch.zeros(1)"
    child = subprocess.Popen([sys.executable, "-c", code], cwd=REPO, env=env, stderr=subprocess.DEVNULL)
    _, _, usage = os.wait4(child.pid, 0)
    return usage.ru_maxrss * 1024 / GIB


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--artifacts", type=Path, default=Path("artifacts"), help="where `make real-model` put it")
    parser.add_argument("--out", type=Path, default=Path("outputs/real"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="torch threads of each stage")
    parser.add_argument("--eval-problems", type=int, default=16, help="GSM8K test problems evaluate.py samples")
    parser.add_argument("--max-new-tokens", type=int, default=128, help="evaluate.py's completion length")
    parser.add_argument("--irl-problems", type=int, default=40, help="test solutions evaluate_irl.py perturbs")
    parser.add_argument("--score-rows", type=int, default=8, help="GSM8K test rows the scoring command scores")
    args = parser.parse_args(argv)
    args.artifacts, args.out = args.artifacts.resolve(), args.out.resolve()
    if not (args.artifacts / "smollm2-135m-instruct" / "config.json").is_file():
        print(
            f"error: no converted model in {args.artifacts}: run `make real-model ARTIFACTS={args.artifacts}`",
            file=sys.stderr,
        )
        return 2
    if not (REPO / GSM8K / "test.jsonl").is_file():
        print(
            f"error: GSM8K is read from {GSM8K} beside the clone ({(REPO / GSM8K).resolve()}): not there",
            file=sys.stderr,
        )
        return 2
    threads = str(args.threads)
    env = {**os.environ, "OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads, "WANDB_MODE": "disabled"}
    (args.out / "logs").mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    todo = stages(args)
    for stage in todo:
        if stage.done.exists():
            print(f"\n== {stage.name}: done already ({stage.done})")
            continue
        if run(stage, env, args.out / "logs"):
            return 1
        describe(stage)
        print(f"  {stage.seconds:.0f} s, peak resident memory {stage.peak_gib:.2f} GiB")
        for note in stage.notes:
            print(f"  {note}")
    airl = next(s for s in todo if s.name == "airl")
    print("\n== plan=true against the AIRL run")
    plan_line = (
        plan_against(airl, args, env, baseline(env))
        if airl.seconds
        else "  (the AIRL stage was done already: no measurement)"
    )
    print(plan_line)
    report = [
        {"stage": s.name, "seconds": s.seconds, "peak_gib": s.peak_gib, "notes": s.notes} for s in todo if s.seconds
    ]
    (args.out / "logs" / f"report-{time.strftime('%Y%m%d-%H%M%S')}.json").write_text(
        json.dumps({"threads": args.threads, "stages": report, "plan": plan_line}, indent=2) + "\n"
    )
    print(f"\n{time.perf_counter() - started:.0f} s in all, {args.threads} threads a stage; outputs under {args.out}")
    print("SmolLM2-135M-Instruct here is its Q4_1 GGUF quantisation dequantised to float32: say so beside any number")
    return 0


if __name__ == "__main__":
    sys.exit(main())
