"""Smoke run of the project's GPU paths on random-weight models of the real architectures, with step times.

    runner_scripts/gpu_smoke.sh                  (the usual way; it sets PYTHONPATH and can install wheels)
    python bench/gpu_smoke.py --out DIR [--size paper|tiny] [--steps 3]

paper: a random Qwen2.5-3B-architecture policy (the paper preset's LoRA r=128) and a Qwen2.5-0.5B-architecture
reward model, both with their real vocabulary size and the project's small tokenizer, 16 samples x 2 prompts
per step, every completion forced to 824 tokens. tiny: the tiny presets, a few tokens, for a CPU check.
Both sizes train through run_grpo / run_airl with the paper's GSM8K presets (the synthetic task stands in for
GSM8K) and sample through the evaluation sampler. Step 1 is warm-up and excluded from the means.
unsloth, 4-bit (bitsandbytes) and vLLM are tried only where CUDA and the module are there, else skipped
with one line. Weights are random: the figures are times and memory, never quality.
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import json
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any, Optional

import torch
from step_cost import measure  # bench/ is on sys.path when this file runs as a script

SIZES = {
    "paper": dict(policy="qwen2.5-3b", reward="qwen2.5-0.5b", generations=16, prompts=2, length=824, sample_tokens=256),
    "tiny": dict(policy="policy", reward="reward", generations=4, prompts=2, length=16, sample_tokens=16),
}


def one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"[:200]


def free_gpu() -> None:
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()


def peak_gib() -> Optional[float]:
    return round(torch.cuda.max_memory_allocated() / 2**30, 2) if torch.cuda.is_available() else None


class Smoke:
    """Runs each path once, recording ran / skipped / failed and the figures."""

    def __init__(self, args: argparse.Namespace):
        self.args, self.size = args, SIZES[args.size]
        self.out = Path(args.out).resolve()
        self.cuda = torch.cuda.is_available()
        self.outcomes: list[tuple[str, str, str]] = []
        self.figures: dict[str, Any] = {}
        self.policy: Optional[Path] = None
        self.reward: Optional[Path] = None

    def attempt(self, path: str, fn: Callable[[], Any], key: Optional[str] = None) -> Any:
        """``fn()``, recorded as ran or failed; a result is kept in the figures under ``key``."""
        free_gpu()
        start = time.perf_counter()
        try:
            result = fn()
        except Exception as exc:  # recorded and reported; the next path still runs
            traceback.print_exc()
            self.outcomes.append((path, "failed", one_line(exc)))
            self.write()
            return None
        if key:
            self.figures[key] = result
        memory = f", peak GPU {peak_gib()} GiB" if self.cuda else ""
        self.outcomes.append((path, "ran", f"{time.perf_counter() - start:.1f} s{memory}"))
        self.write()
        return result

    def optional(self, path: str, module: str, fn: Callable[[], Any], key: str) -> Any:
        """``fn`` only where CUDA and ``module`` are there; else one 'skipped' line."""
        missing = (
            "no CUDA device"
            if not self.cuda
            else (f"{module} not installed" if importlib.util.find_spec(module) is None else None)
        )
        if missing:
            print(f"skipped: {path} ({missing})", flush=True)
            self.outcomes.append((path, "skipped", missing))
            return None
        return self.attempt(path, fn, key)

    # --- models -------------------------------------------------------------------------------------------
    def build(self, preset: str) -> Path:
        from reasoning_irl.models.tiny import build_tiny_model

        path = self.out / "models" / f"random-{preset}"
        if not (path / "config.json").is_file():
            dtype = "bfloat16" if self.cuda else "float32"
            build_tiny_model(path, "qwen2", preset, seed=0, dtype=dtype, device="cuda" if self.cuda else "cpu")
        info = json.loads((path / "tiny_build.json").read_text())
        self.figures[f"params/{preset}"] = info["params"]
        return path

    # --- training -----------------------------------------------------------------------------------------
    def overrides(self, run_name: str, steps: int) -> list[str]:
        s = self.size
        return [
            f"output_root={self.out / 'runs'}",
            f"artifacts_dir={self.out / 'artifacts'}",
            f"run_name={run_name}",
            "dataset=synthetic",
            f"model.name_or_path={self.policy}",
            "model.backend=hf",
            f"training.max_steps={steps}",
            f"training.save_steps={steps * 10}",
            "training.logging_steps=1",
            # One micro-batch is one prompt's group; two micro-batches make the step's two prompts.
            f"training.per_device_batch_size={s['generations']}",
            f"training.gradient_accumulation_steps={s['prompts']}",
            f"sampling.num_generations={s['generations']}",
            f"sampling.max_completion_length={s['length']}",
            f"sampling.min_completion_length={s['length']}",
            # The plain-HF path in bf16 on any CUDA machine (the recipe's 4-bit and paged 8-bit AdamW need
            # bitsandbytes: the 4-bit path is its own line), and no held-out curve inside a step timing.
            "model.load_in_4bit=false",
            "training.optim=adamw_torch",
            "training.eval_steps=0",
        ]

    def grpo(self, extra: list[str] = (), name: str = "grpo", steps: Optional[int] = None) -> dict[str, float]:
        from reasoning_irl.training.grpo import run_grpo

        steps = steps or self.args.steps
        figures = measure(
            run_grpo,
            "grpo",
            ["experiment=gsm8k_qwen2.5-3b_grpo", *self.overrides(f"smoke-{name}", steps), *extra],
            steps,
        )
        return {**figures, "peak_gib": peak_gib()}

    def airl(self) -> dict[str, float]:
        from reasoning_irl.training.airl.run import run_airl

        extra = [
            f"reward_model.name_or_path={self.reward}",
            "reward_model.backend=hf",
            "reward_model.load_in_4bit=false",
        ]
        figures = measure(
            run_airl,
            "airl",
            ["experiment=gsm8k_qwen2.5-3b_airl", *self.overrides("smoke-airl", self.args.steps), *extra],
            self.args.steps,
        )
        return {**figures, "peak_gib": peak_gib()}

    # --- sampling -----------------------------------------------------------------------------------------
    def prompts(self) -> tuple[list, list[str]]:
        from reasoning_irl.data import dataset_config, load_split

        records = load_split(dataset_config({"name": "synthetic"}), "test")[: self.size["prompts"]]
        return [r["prompt"] for r in records], [r["id"] for r in records]

    def adapter_spec(self):
        """The GRPO run's saved adapter (LoRA r=128 at the paper size) on the random policy."""
        from reasoning_irl.evaluation.sampling import resolve_policy

        return resolve_policy(str(self.out / "runs" / "smoke-grpo"), None)

    def sample(self, backend: str) -> dict[str, float]:
        from reasoning_irl.evaluation import sampling

        spec, (prompts, ids) = self.adapter_spec(), self.prompts()
        n, tokens = self.size["generations"], self.size["sample_tokens"]
        start = time.perf_counter()
        if backend == "hf":
            model, tokenizer = sampling.load_eval_policy(spec)
            load_s, start = time.perf_counter() - start, time.perf_counter()
            got = sampling.sample_hf(
                model,
                tokenizer,
                prompts,
                ids,
                n,
                1.0,
                0.95,
                tokens,
                seed=0,
                batch_size=n * len(prompts),
                greedy=False,
                progress=False,
            )
        else:
            from reasoning_irl.models.loading import load_tokenizer

            got = sampling.sample_vllm(
                spec,
                load_tokenizer(spec.tokenizer),
                prompts,
                ids,
                n,
                1.0,
                0.95,
                tokens,
                seed=0,
                greedy=False,
                gpu_memory_utilization=0.4,
            )
            load_s = 0.0  # vLLM's engine start is inside the timed call
        seconds = time.perf_counter() - start
        generated = sum(len(s) for problem in got for s in problem.samples)
        return {
            "load_s": load_s,
            "seconds": seconds,
            "tokens": generated,
            "tokens_per_s": generated / seconds,
            "peak_gib": peak_gib(),
        }

    # --- optional loaders ---------------------------------------------------------------------------------
    def load_and_step(self, **model_kw: Any) -> dict[str, float]:
        """Load the reward-size model through load_policy with LoRA, then one forward and backward pass."""
        from reasoning_irl.models.config import LoraSettings, ModelConfig
        from reasoning_irl.models.loading import load_policy

        cfg = ModelConfig(name_or_path=str(self.reward), lora=LoraSettings(r=16, alpha=16), **model_kw)
        model, tokenizer = load_policy(cfg, max_seq_length=1024)
        ids = torch.randint(0, len(tokenizer), (2, 128), device=model.device)
        loss = model(input_ids=ids, labels=ids).loss
        loss.backward()
        del model
        return {"loss": float(loss), "peak_gib": peak_gib()}

    # --- the whole run ------------------------------------------------------------------------------------
    def run(self) -> int:
        self.policy = self.attempt("build random policy", lambda: self.build(self.size["policy"]))
        self.reward = self.attempt("build random reward model", lambda: self.build(self.size["reward"]))
        if self.policy is None or self.reward is None:
            return self.report()
        self.attempt("GRPO steps (HF generate)", self.grpo, "grpo")
        self.attempt("AIRL steps (HF generate)", self.airl, "airl")
        self.attempt("evaluation sampling, HF (LoRA merged)", lambda: self.sample("hf"), "sample_hf")
        self.optional(
            "4-bit load + LoRA step",
            "bitsandbytes",
            lambda: self.load_and_step(backend="hf", load_in_4bit=True),
            "load_4bit",
        )
        self.optional(
            "unsloth load + LoRA step", "unsloth", lambda: self.load_and_step(backend="unsloth"), "load_unsloth"
        )
        self.optional("evaluation sampling, vLLM (LoRA adapter)", "vllm", lambda: self.sample("vllm"), "sample_vllm")
        vllm_grpo = ["sampling.use_vllm=true", "sampling.vllm_gpu_memory_utilization=0.3"]
        self.optional("GRPO steps (vLLM colocate)", "vllm", lambda: self.grpo(vllm_grpo, "grpo-vllm", 2), "grpo_vllm")
        return self.report()

    def report(self) -> int:
        print("\n" + "\n".join(self.write()), flush=True)
        return 1 if any(status == "failed" for _, status, _ in self.outcomes) else 0

    def write(self) -> list[str]:
        """gpu_smoke.json as it stands (rewritten after every path, so a run cut short keeps what it measured)."""
        summary = self.summary()
        (self.out / "gpu_smoke.json").write_text(
            json.dumps(
                {
                    "size": self.args.size,
                    "steps": self.args.steps,
                    "device": device_name(),
                    "versions": versions(),
                    "outcomes": self.outcomes,
                    "figures": self.figures,
                    "summary": summary,
                },
                indent=2,
            )
            + "\n"
        )
        return summary

    def summary(self) -> list[str]:
        s = self.size
        lines = [
            f"GPU smoke, size {self.args.size} on {device_name()}, torch {torch.__version__}",
            f"{'path':44s} {'result':8s} note",
        ]
        lines += [f"{path:44s} {status:8s} {note}" for path, status, note in self.outcomes]
        grpo, airl = self.figures.get("grpo") or {}, self.figures.get("airl") or {}
        tokens = s["generations"] * s["prompts"] * s["length"]
        lines.append(
            f"figures: mean of steps 2..{self.args.steps}, {s['prompts']} prompts x {s['generations']} "
            f"samples x {s['length']} tokens = {tokens} generated tokens per step"
        )
        if "step_time" in grpo:
            lines.append(
                f"  GRPO s/step {grpo['step_time']:.2f} (generate {grpo['time/generate']:.2f} s: "
                f"{tokens / grpo['time/generate']:.0f} tokens/s){memory(grpo)}"
            )
        if "step_time" in airl:
            lines.append(
                f"  AIRL s/step {airl['step_time']:.2f} (generate {airl['time/generate']:.2f} s, "
                f"discriminator update {airl.get('time/disc_update', float('nan')):.2f} s){memory(airl)}"
            )
        if "step_time" in grpo and "step_time" in airl:
            lines.append(f"  AIRL / GRPO step time {airl['step_time'] / grpo['step_time']:.2f}x")
        for key in ("sample_hf", "sample_vllm"):
            got = self.figures.get(key)
            if got:
                lines.append(
                    f"  {key}: {got['tokens']} tokens in {got['seconds']:.2f} s = "
                    f"{got['tokens_per_s']:.0f} tokens/s{memory(got)}"
                )
        return lines


def memory(figures: dict[str, Any]) -> str:
    return f", peak GPU {figures['peak_gib']} GiB" if figures.get("peak_gib") is not None else ""


def versions() -> dict[str, str]:
    """The versions this run imported (on a machine given wheels, theirs rather than the machine's own)."""
    found = {}
    for name in ("torch", "transformers", "trl", "peft", "accelerate", "vllm", "unsloth", "bitsandbytes"):
        module = sys.modules.get(name)
        if module is not None:
            found[name] = getattr(module, "__version__", "?")
    return found


def device_name() -> str:
    return torch.cuda.get_device_name() if torch.cuda.is_available() else "CPU"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="folder for the models, runs and gpu_smoke.json")
    parser.add_argument("--size", choices=list(SIZES), default="paper")
    parser.add_argument("--steps", type=int, default=3, help="optimizer steps per run (the first is warm-up)")
    args = parser.parse_args(argv)
    if args.steps < 2:
        parser.error("--steps must be >= 2 (step 1 is excluded as warm-up)")
    Path(args.out).mkdir(parents=True, exist_ok=True)
    return Smoke(args).run()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
