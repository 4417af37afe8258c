"""One stage of the GPU smoke run (bench/gpu_smoke.py), in a process of its own.

    python bench/smoke_stage.py SPEC.json RESULT.json

A stage per process: TRL's colocated vLLM engine lives in the training process, and nothing promises that a
finished trainer hands back its engine's memory and distributed state for the next stage's engine; a fresh process
also makes the peak-memory figures the stage's own. SPEC.json (written by gpu_smoke.py) says what to run;
RESULT.json gets the status, a one-line note and the figures.
"""

from __future__ import annotations

import importlib
import json
import os
import resource
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import Any, Optional

import torch


def one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"[:200]


class Memory:
    """The stage's peak memory: torch's allocator peaks on a GPU (and the device's, read through NVML when present:
    vLLM's evaluation engine runs in a process of its own), the growth of the peak resident set on a CPU."""

    def __init__(self):
        self.cuda = torch.cuda.is_available()
        self.rss_start = _rss_bytes()
        self.device_peak: Optional[int] = None
        self._stop = threading.Event()
        self._poller = None
        if self.cuda:
            torch.cuda.reset_peak_memory_stats()
            self._poller = _nvml_poller(self)

    def figures(self) -> dict[str, Any]:
        self._stop.set()
        if self._poller is not None:
            self._poller.join()
        if not self.cuda:
            # ru_maxrss is in KiB on Linux: the process's high-water mark, less what it held when the stage began.
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
            return {"rss_growth_gib": round(max(0, peak - self.rss_start) / 2**30, 3)}
        gib = {
            "allocated_gib": torch.cuda.max_memory_allocated() / 2**30,
            "reserved_gib": torch.cuda.max_memory_reserved() / 2**30,
        }
        if self.device_peak is not None:
            gib["device_used_gib"] = self.device_peak / 2**30
        return {k: round(v, 2) for k, v in gib.items()}


def _rss_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def _nvml_poller(memory: Memory) -> Optional[threading.Thread]:
    """Device-wide used memory every 0.2 s through NVML (never the CUDA runtime, which would disturb vLLM's graph
    capture from another thread); None without pynvml (it comes with vLLM)."""
    try:
        import pynvml

        pynvml.nvmlInit()
        visible = os.environ.get("CUDA_VISIBLE_DEVICES", "0").split(",")[0]
        handle = pynvml.nvmlDeviceGetHandleByIndex(int(visible) if visible.isdigit() else 0)
    except Exception:  # no NVML: the torch figures stand alone
        return None

    def poll():
        while not memory._stop.is_set():
            used = pynvml.nvmlDeviceGetMemoryInfo(handle).used
            memory.device_peak = max(memory.device_peak or 0, used)
            memory._stop.wait(0.2)

    thread = threading.Thread(target=poll, daemon=True)
    thread.start()
    return thread


# --- stages ---------------------------------------------------------------------------------------------------
def build(spec: dict) -> dict[str, Any]:
    from reasoning_irl.models.tiny import build_tiny_model

    figures = {}
    for model in spec["models"]:
        path = Path(model["path"])
        if not (path / "config.json").is_file():
            build_tiny_model(path, "qwen2", model["preset"], seed=0, dtype=model["dtype"], device=model["device"])
        figures[f"params/{model['preset']}"] = json.loads((path / "tiny_build.json").read_text())["params"]
    return figures


class StepClock:
    """Wall time of every optimizer step (between the Trainer's step-end callbacks, the first from train begin: the
    same clock for SFT, which logs no step time, and GRPO / AIRL)."""

    def __init__(self):
        self.steps: list[float] = []
        self._last: Optional[float] = None

    def install(self) -> None:
        from transformers.trainer_callback import CallbackHandler

        clock, sync = self, torch.cuda.synchronize if torch.cuda.is_available() else (lambda: None)
        train_begin, step_end = CallbackHandler.on_train_begin, CallbackHandler.on_step_end

        def on_train_begin(handler, *args, **kwargs):
            clock._last = time.perf_counter()
            return train_begin(handler, *args, **kwargs)

        def on_step_end(handler, *args, **kwargs):
            sync()
            now = time.perf_counter()
            clock.steps.append(now - clock._last)
            clock._last = now
            return step_end(handler, *args, **kwargs)

        CallbackHandler.on_train_begin, CallbackHandler.on_step_end = on_train_begin, on_step_end

    def figures(self) -> dict[str, Any]:
        """The mean step after the first (warm-up: first kernels, vLLM's first weight push)."""
        figures: dict[str, Any] = {"steps": len(self.steps)}
        if len(self.steps) > 1:
            figures["step_s"] = sum(self.steps[1:]) / len(self.steps[1:])
        return figures


def sampler_figures(rows: list[dict]) -> dict[str, float]:
    """The sampler's seconds and tokens per generation, from the steps after the first: the trainer logs them
    (``time/sample``, ``sample/tokens``) around TRL's generation call, one generation a step at logging_steps=1."""
    later = [r for r in rows if r.get("step", 0) > 1 and "time/sample" in r]
    if not later:
        return {}
    seconds, tokens = sum(r["time/sample"] for r in later), sum(r["sample/tokens"] for r in later)
    return {"generate_s": seconds / len(later), "tokens": tokens / len(later), "tokens_per_s": tokens / seconds}


def train(spec: dict) -> dict[str, Any]:
    from reasoning_irl.composition import compose
    from reasoning_irl.training.callbacks import read_rows

    if spec["method"] == "sft":
        from reasoning_irl.training.sft import run_sft as run
    elif spec["method"] == "grpo":
        from reasoning_irl.training.grpo import run_grpo as run
    else:
        from reasoning_irl.training.airl.run import run_airl as run
    cfg = compose(spec["method"], spec["overrides"])
    clock = StepClock()
    clock.install()
    run_dir = Path(run(cfg))
    rows = read_rows(run_dir / "metrics.jsonl")
    figures = {**clock.figures(), **sampler_figures(rows)}
    later = [r for r in rows if r.get("step", 0) > 1 and "loss" in r]
    for key in ("time/generate", "time/disc_update"):  # the trainers' own phase times, for the record
        if later and key in later[0]:
            figures[key] = sum(r[key] for r in later) / len(later)
    return figures


def sample(spec: dict) -> dict[str, Any]:
    from reasoning_irl.data import dataset_config, load_split
    from reasoning_irl.evaluation import sampling

    policy = sampling.resolve_policy(spec["policy"], None)
    records = load_split(dataset_config({"name": "synthetic"}), "test")[: spec["prompts"]]
    prompts, ids = [r["prompt"] for r in records], [r["id"] for r in records]
    args = (prompts, ids, spec["n"], spec["temperature"], spec["top_p"], spec["tokens"])
    start = time.perf_counter()
    if spec["backend"] == "hf":
        model, tokenizer = sampling.load_eval_policy(policy)
        start = time.perf_counter()  # generation only; the load is in the stage's wall time
        got = sampling.sample_hf(
            model, tokenizer, *args, seed=0, batch_size=spec["n"] * len(prompts), greedy=False, progress=False
        )
    else:
        from reasoning_irl.models.loading import load_tokenizer

        got = sampling.sample_vllm(
            policy,
            load_tokenizer(policy.tokenizer),
            *args,
            seed=0,
            greedy=False,
            gpu_memory_utilization=spec["gpu_memory_utilization"],
        )  # vLLM's engine start is inside this call and its time
    seconds = time.perf_counter() - start
    tokens = sum(len(s) for problem in got for s in problem.samples)
    return {"generate_s": seconds, "tokens": tokens, "tokens_per_s": tokens / seconds}


def versions() -> dict[str, str]:
    """The versions this stage imported (on a machine given wheels, theirs rather than the machine's own)."""
    names = ("torch", "transformers", "trl", "peft", "accelerate", "datasets", "vllm", "bitsandbytes")
    return {n: getattr(sys.modules[n], "__version__", "?") for n in names if n in sys.modules}


IMPORTS = {
    "build": ["reasoning_irl.models.tiny"],
    "train": [
        "reasoning_irl.composition",
        "reasoning_irl.training.grpo",
        "reasoning_irl.training.airl.run",
        "reasoning_irl.training.sft",
    ],
    "sample": ["reasoning_irl.evaluation.sampling", "peft"],
}


def main(argv: list[str]) -> int:
    spec, result_path = json.loads(Path(argv[0]).read_text()), Path(argv[1])
    result: dict[str, Any] = {"device": torch.cuda.get_device_name() if torch.cuda.is_available() else "CPU"}
    memory, start = None, time.perf_counter()
    try:
        for module in IMPORTS[spec["kind"]]:  # before the memory baseline: the stage's growth, not the libraries'
            importlib.import_module(module)
        memory, start = Memory(), time.perf_counter()
        result["figures"] = {"build": build, "train": train, "sample": sample}[spec["kind"]](spec)
        result["status"] = "ran"
    except Exception as exc:  # reported in the table; the next stage still runs
        traceback.print_exc()
        result.update(status="failed", note=one_line(exc))
    result.update(wall_s=time.perf_counter() - start, memory=memory.figures() if memory else {}, versions=versions())
    result_path.write_text(json.dumps(result, indent=2) + "\n")
    return 0 if result["status"] == "ran" else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
