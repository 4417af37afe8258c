"""Smoke run of the paper presets' own settings on random-weight models of the real architectures, with figures.

    runner_scripts/gpu_smoke.sh                  (the usual way; it sets PYTHONPATH and can install wheels)
    python bench/gpu_smoke.py --out DIR [--size paper|tiny] [--steps 3]

Stages: build the random models, then SFT, GRPO and AIRL steps through run_sft / run_grpo / run_airl with the
GSM8K presets gsm8k_qwen2.5-3b_{sft,grpo,airl} as they are (bf16 LoRA policy, paged 8-bit AdamW, gradient
checkpointing, TRL's colocated vLLM; AIRL's own reward-model section), then evaluation sampling with the GRPO
run's adapter through HF and vLLM. Each stage runs in a process of its own (bench/smoke_stage.py).
Only what cannot be on the machine is replaced, each with one printed line (and in gpu_smoke.json): the hub's
weights by random ones of the same architecture (configs/architectures/), GSM8K by the synthetic task, and on a
machine without CUDA / vLLM / bitsandbytes the settings that need them. Besides that the run sets its own budget
(steps, no held-out curve, every completion at full length) and at SIZE=tiny the tiny models and a small scale.
Weights are random: the figures are times and memory, never quality.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import subprocess
import sys
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Optional

PRESETS = {"sft": "gsm8k_qwen2.5-3b_sft", "grpo": "gsm8k_qwen2.5-3b_grpo", "airl": "gsm8k_qwen2.5-3b_airl"}
TITLES = {"sft": "SFT steps", "grpo": "GRPO steps", "airl": "AIRL steps"}
HF_LENGTH = 256
"""Completion cap at SIZE=paper when HF generate stands in for vLLM: 2 prompts x 16 samples x 824 tokens took
~60 s a step on an H200, which over GRPO's and AIRL's steps would spend the run's 10 minutes on generation alone."""


@dataclass(frozen=True)
class Size:
    policy: Optional[str]  # a models/tiny.py size preset, or None: the preset's own architecture
    reward: Optional[str]
    sample_tokens: int  # evaluation sampling: a timing, so shorter than training's completions
    generations: Optional[int] = None  # None: the presets' own group size, batch and completion length
    length: Optional[int] = None


SIZES = {"paper": Size(None, None, sample_tokens=256), "tiny": Size("policy", "reward", 16, generations=4, length=16)}


@dataclass(frozen=True)
class Machine:
    cuda: bool
    vllm: bool
    bitsandbytes: bool

    @classmethod
    def here(cls) -> Machine:
        import torch

        found = {m: importlib.util.find_spec(m) is not None for m in ("vllm", "bitsandbytes")}
        return cls(cuda=torch.cuda.is_available(), **found)

    def lacks(self, module: str, what: str) -> Optional[str]:
        """Why ``module`` (needed for ``what``) cannot run here, or None."""
        if not self.cuda:
            return f"{what} needs CUDA"
        return None if getattr(self, module) else f"{module} not installed"


@dataclass
class Replacement:
    key: str
    preset: Any
    value: Any
    why: str


@dataclass
class Stage:
    name: str
    title: str
    kind: str  # build | train | sample: the function of bench/smoke_stage.py
    spec: dict[str, Any]
    replacements: list[Replacement] = field(default_factory=list)
    settings: list[str] = field(default_factory=list)  # the run's own budget and folders
    needs: Optional[str] = None  # a stage that must have run first
    skip: Optional[str] = None


def architecture_of(name_or_path: str) -> str:
    """The kept architecture (configs/architectures/<name>.json) whose config.json came from hub model ``name``."""
    from reasoning_irl.config import config_dir

    for path in sorted((config_dir() / "architectures").glob("*.json")):
        if json.loads(path.read_text()).get("_source", "").startswith(f"config.json of {name_or_path} "):
            return path.stem
    raise ValueError(f"no configs/architectures/*.json was taken from {name_or_path!r}")


def plan(size_name: str, machine: Machine, out: Path, steps: int) -> list[Stage]:
    """Every stage with the overrides it runs with; composes the presets, runs nothing."""
    from reasoning_irl.composition import compose
    from reasoning_irl.evaluation.config import EvalSampling

    size, out = SIZES[size_name], Path(out).resolve()
    presets = {method: compose(method, [f"experiment={name}"]) for method, name in PRESETS.items()}
    models = {}  # section's hub name -> (folder, preset it is built from)
    for cfg in presets.values():
        for section, tiny in (("model", size.policy), ("reward_model", size.reward)):
            if section in cfg:
                name = cfg[section].name_or_path
                preset = tiny or architecture_of(name)
                models[name] = (out / "models" / f"random-{preset}", preset)
    device, dtype = ("cuda", "bfloat16") if machine.cuda else ("cpu", "float32")
    build = Stage(
        "build",
        "build random models",
        "build",
        {"models": [dict(path=str(p), preset=k, dtype=dtype, device=device) for p, k in dict(models.values()).items()]},
    )
    stages = [build]
    for method, cfg in presets.items():
        stages.append(training_stage(method, cfg, size_name, machine, out, steps, models))
    generations = size.generations or presets["grpo"].sampling.num_generations
    sample = dict(
        policy=str(out / "runs" / "smoke-grpo"),
        prompts=2,
        n=generations,
        temperature=presets["grpo"].sampling.temperature,
        top_p=presets["grpo"].sampling.top_p,
        tokens=size.sample_tokens,
    )
    stages.append(Stage("sample_hf", "eval sampling, HF (LoRA merged)", "sample", {**sample, "backend": "hf"}))
    vllm = {**sample, "backend": "vllm", "gpu_memory_utilization": EvalSampling().vllm_gpu_memory_utilization}
    stages.append(
        Stage("sample_vllm", "eval sampling, vLLM (LoRA)", "sample", vllm, skip=machine.lacks("vllm", "vLLM"))
    )
    for stage in stages[1:]:
        stage.needs = "build" if stage.kind == "train" else "grpo"  # sampling uses the GRPO run's adapter
    return stages


def training_stage(method: str, cfg: Any, size_name: str, machine: Machine, out: Path, steps: int, models) -> Stage:
    size, replaced = SIZES[size_name], []
    for section in ("model", "reward_model"):
        if section in cfg:
            name = cfg[section].name_or_path
            folder, preset = models[name]
            why = (
                f"SIZE=tiny: the tiny {preset} preset"
                if size.policy
                else f"random weights of its architecture (configs/architectures/{preset}.json), no download"
            )
            replaced.append(Replacement(f"{section}.name_or_path", name, str(folder), why))
    replaced.append(
        Replacement("dataset", cfg.dataset.name, "synthetic", "no download: the synthetic task's prompts and traces")
    )
    scale = []
    if size.generations:  # two prompts a step, as the presets' two micro-batches of one group each
        scale.append(f"training.per_device_batch_size={size.generations}")
    sampling = cfg.get("sampling")
    length = None
    if sampling is not None:
        length = size.length or sampling.max_completion_length
        if size.generations:
            scale += [f"sampling.num_generations={size.generations}", f"sampling.max_completion_length={length}"]
        why = machine.lacks("vllm", "vLLM") if sampling.use_vllm else None
        if why:
            replaced.append(Replacement("sampling.use_vllm", True, False, why))
            if size_name == "paper":
                replaced.append(
                    Replacement(
                        "sampling.max_completion_length",
                        length,
                        HF_LENGTH,
                        "HF generate stands in for vLLM (~60 s a step at the full length on an H200)",
                    )
                )
                length = HF_LENGTH
    no_bitsandbytes = machine.lacks("bitsandbytes", "bitsandbytes")
    from reasoning_irl.training.plan_terms import BNB_NAMES  # the optimizers transformers takes from bitsandbytes

    if cfg.training.optim in BNB_NAMES and no_bitsandbytes:
        replaced.append(Replacement("training.optim", cfg.training.optim, "adamw_torch", no_bitsandbytes))
    if cfg.model.load_in_4bit and no_bitsandbytes:  # not the recipe's; a preset that still asks for it
        replaced.append(Replacement("model.load_in_4bit", True, False, no_bitsandbytes))
    settings = [
        f"run_name=smoke-{method}",
        f"training.max_steps={steps}",
        f"training.save_steps={steps * 10}",  # only the final adapter, outside the timed steps
        "training.logging_steps=1",
        "training.eval_steps=0",  # no held-out curve inside the timed steps
    ]
    if length is not None:  # every completion the full length: the token count and memory of the worst case
        settings.append(f"sampling.min_completion_length={length}")
    folders = [f"output_root={out / 'runs'}", f"artifacts_dir={out / 'artifacts'}"]
    overrides = [
        f"experiment={PRESETS[method]}",
        *scale,
        *(f"{r.key}={override_value(r.value)}" for r in replaced),
        *settings,
        *folders,
    ]
    title = TITLES[method]
    if sampling is not None:
        vllm = sampling.use_vllm and not any(r.key == "sampling.use_vllm" for r in replaced)
        title += f" (vLLM {sampling.vllm_mode})" if vllm else " (HF generate)"
    spec = {"method": method, "overrides": overrides}
    return Stage(method, title, "train", spec, replaced, [*scale, *settings])


def override_value(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def recipe(cfg: Any) -> dict[str, Any]:
    """The settings the smoke is about, as a composed stage config has them."""
    got = {
        "optim": cfg.training.optim,
        "policy": f"{Path(cfg.model.name_or_path).name} dtype={cfg.model.dtype} 4bit={cfg.model.load_in_4bit}",
        "lora_r": cfg.model.lora.r if cfg.model.lora else None,
        "gradient_checkpointing": cfg.model.gradient_checkpointing,
    }
    if "sampling" in cfg:
        got["vllm"] = (
            f"{cfg.sampling.vllm_mode}, {cfg.sampling.vllm_gpu_memory_utilization} of the GPU"
            if cfg.sampling.use_vllm
            else "off"
        )
    if "reward_model" in cfg:
        rm = cfg.reward_model
        got["reward_model"] = (
            f"{Path(rm.name_or_path).name} 4bit={rm.load_in_4bit} lora_r={rm.lora.r if rm.lora else None}"
        )
    return got


def stage_config(stage: Stage):
    from reasoning_irl.composition import compose

    return compose(stage.spec["method"], stage.spec["overrides"])


# --- running ------------------------------------------------------------------------------------------------------
def run(stages: list[Stage], out: Path, args: argparse.Namespace, machine: Machine) -> int:
    report = Report(out, args, machine, stages)
    for line in report.preamble():
        print(line, flush=True)
    for stage in stages:
        needed = report.status.get(stage.needs) if stage.needs else "ran"
        if stage.skip or needed != "ran":
            why = stage.skip or f"{stage.needs} did not run"
            print(f"skipped: {stage.title} ({why})", flush=True)
            report.add(stage, {"status": "skipped", "note": why})
            continue
        print(f"\n=== {stage.title}", flush=True)
        spec_path, result_path = out / "stages" / f"{stage.name}.json", out / "stages" / f"{stage.name}.result.json"
        spec_path.parent.mkdir(parents=True, exist_ok=True)
        spec_path.write_text(json.dumps({"kind": stage.kind, **stage.spec}, indent=2) + "\n")
        result_path.unlink(missing_ok=True)
        start = time.perf_counter()
        done = subprocess.run([sys.executable, str(Path(__file__).with_name("smoke_stage.py")), spec_path, result_path])
        if result_path.is_file():
            result = json.loads(result_path.read_text())
        else:  # killed (out of memory, a signal): no result written
            result = {"status": "failed", "note": f"exit code {done.returncode}, no result"}
        result["process_s"] = time.perf_counter() - start
        report.add(stage, result)
    print("\n" + "\n".join(report.write()), flush=True)
    return 1 if "failed" in report.status.values() else 0


class Report:
    def __init__(self, out: Path, args: argparse.Namespace, machine: Machine, stages: list[Stage]):
        self.out, self.args, self.machine, self.stages = out, args, machine, stages
        self.results: list[dict[str, Any]] = []
        self.status: dict[str, str] = {}
        self.recipes = {s.name: recipe(stage_config(s)) for s in stages if s.kind == "train"}

    def replacement_lines(self) -> list[str]:
        """One line per replacement, naming the stages it applies to."""
        grouped: dict[tuple, list[str]] = {}
        for stage in self.stages:
            for r in stage.replacements:
                shown = Path(r.value).name if r.key.endswith("name_or_path") else override_value(r.value)
                grouped.setdefault((r.key, override_value(r.preset), shown, r.why), []).append(stage.name)
        return [f"replaced: {k} {p} -> {v} in {', '.join(names)} ({why})" for (k, p, v, why), names in grouped.items()]

    def preamble(self) -> list[str]:
        lines = [f"GPU smoke, size {self.args.size}, {self.args.steps} steps, machine {asdict(self.machine)}"]
        lines += [
            f"{name}: {PRESETS[name]} " + " ".join(f"{k}={v}" for k, v in r.items()) for name, r in self.recipes.items()
        ]
        lines += self.replacement_lines()
        settings = sorted({s for stage in self.stages for s in stage.settings if not s.startswith("run_name=")})
        lines.append(f"smoke settings: {' '.join(settings)}")
        return lines

    def add(self, stage: Stage, result: dict[str, Any]) -> None:
        self.status[stage.name] = result["status"]
        self.results.append({"stage": stage.name, "title": stage.title, **result})
        self.write()

    def write(self) -> list[str]:
        """gpu_smoke.json as it stands (rewritten after every stage, so a run cut short keeps what it measured)."""
        summary = self.table()
        found = self.richest()
        record = {
            "size": self.args.size,
            "steps": self.args.steps,
            "device": found.get("device"),
            "versions": found.get("versions"),
            "machine": asdict(self.machine),
            "stages": [{**asdict(s), "recipe": self.recipes.get(s.name)} for s in self.stages],
            "replacements": [{"stage": s.name, **asdict(r)} for s in self.stages for r in s.replacements],
            "results": self.results,
            "summary": summary,
        }
        (self.out / "gpu_smoke.json").write_text(json.dumps(record, indent=2) + "\n")
        return summary

    def richest(self) -> dict[str, Any]:
        """The result of the stage that imported the most of the libraries (a training stage: TRL's too)."""
        return max(self.results, key=lambda r: len(r.get("versions") or {}), default={})

    def table(self) -> list[str]:
        found = self.richest()
        versions = ", ".join(f"{k} {v}" for k, v in (found.get("versions") or {}).items())
        lines = [
            f"GPU smoke, size {self.args.size} on {found.get('device', '?')}: {versions}",
            f"figures: mean of steps 2..{self.args.steps} (step 1 is warm-up); generation: tokens generated per step "
            "and their time (vLLM weight sync included); memory: the stage's peak",
            f"{'stage':34s} {'result':7s} {'wall s':>7s} {'step s':>7s} {'gen s':>7s} {'tokens':>7s} {'tok/s':>7s}  "
            f"{'peak memory':28s} note",
        ]
        for r in self.results:
            f = r.get("figures") or {}
            cells = [num(r.get("process_s")), num(f.get("step_s")), num(f.get("generate_s"))]
            cells += [num(f.get("tokens"), 0), num(f.get("tokens_per_s"), 0)]
            note = r.get("note") or params(f)
            lines.append(
                f"{r['title']:34s} {r['status']:7s} " + " ".join(f"{c:>7s}" for c in cells) + f"  {peak(r):28s} {note}"
            )
        return lines


def num(value: Optional[float], digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def peak(result: dict[str, Any]) -> str:
    m = result.get("memory") or {}
    if "rss_growth_gib" in m:
        return f"RSS +{m['rss_growth_gib']:.2f} GiB (cpu)"
    if "allocated_gib" in m:
        device = f", device {m['device_used_gib']}" if "device_used_gib" in m else ""
        return f"alloc {m['allocated_gib']} / res {m['reserved_gib']}{device} GiB"
    return "-"


def params(figures: dict[str, Any]) -> str:
    counts = [(k.split("/")[1], v) for k, v in figures.items() if k.startswith("params/")]
    return ", ".join(f"{name} {n / 1e9:.2f}B" if n >= 1e8 else f"{name} {n / 1e6:.2f}M" for name, n in counts)


def main(argv: Iterable[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="folder for the models, runs and gpu_smoke.json")
    parser.add_argument("--size", choices=list(SIZES), default="paper")
    parser.add_argument("--steps", type=int, default=3, help="optimizer steps per run (the first is warm-up)")
    args = parser.parse_args(list(argv))
    if args.steps < 2:
        parser.error("--steps must be >= 2 (step 1 is excluded as warm-up)")
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    machine = Machine.here()
    return run(plan(args.size, machine, out, args.steps), out, args, machine)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
