"""runner_scripts/gpu_smoke.sh and bench/gpu_smoke.py: the dry run and argument checks, the stage configs at the
paper size (built, not run) against the presets, the replacements per machine, the whole run at tiny size on a CPU,
and runner_scripts/smoke_wheels.txt against the dependency closure the installed metadata gives."""

from __future__ import annotations

import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from omegaconf import OmegaConf
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "runner_scripts" / "gpu_smoke.sh"
WHEELS = REPO / "runner_scripts" / "smoke_wheels.txt"
if str(REPO / "bench") not in sys.path:  # bench/ is a folder of scripts, not a package
    sys.path.insert(0, str(REPO / "bench"))

import gpu_smoke  # noqa: E402
from gpu_smoke import Machine, architecture_of, plan, stage_config  # noqa: E402

GPU = Machine(cuda=True, vllm=True, bitsandbytes=True)


def smoke(tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHON": sys.executable, "OUT": str(tmp_path / "out"), **env}
    return subprocess.run([shutil.which("bash"), str(SCRIPT)], capture_output=True, text=True, timeout=300, env=env)


def test_dry_run_installs_the_wheels_then_runs_the_smoke(tmp_path):
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    (wheels / "trl-1.15.0-py3-none-any.whl").write_bytes(b"")
    done = smoke(tmp_path, DRY_RUN="1", WHEELS=str(wheels), SIZE="tiny", STEPS="4")
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stdout.splitlines() if line.startswith("+ ")]
    assert "--target" in lines[0] and lines[0].endswith("trl-1.15.0-py3-none-any.whl")
    assert f"{tmp_path}/out/site" in lines[1]
    assert lines[2].endswith(f"bench/gpu_smoke.py --out {tmp_path}/out --size tiny --steps 4")
    assert not (tmp_path / "out").exists()


def test_bad_settings_fail_fast(tmp_path):
    for env, message in [
        ({"SIZE": "huge"}, "SIZE must be paper or tiny"),
        ({"DEVICE": "tpu"}, "DEVICE must be"),
        ({"STEPS": "1"}, "STEPS must be an integer >= 2"),
        ({"WHEELS": str(tmp_path)}, "holds no .whl file"),
    ]:
        done = smoke(tmp_path, DRY_RUN="1", **env)
        assert done.returncode == 2 and message in done.stderr and not done.stdout


# --- the stage configs, built without running them ---------------------------------------------------------------
def flat(cfg) -> dict:
    def walk(node, prefix):
        if isinstance(node, dict):
            for key, value in node.items():
                yield from walk(value, f"{prefix}{key}.")
        else:
            yield prefix[:-1], node

    return dict(walk(OmegaConf.to_container(cfg, resolve=True), ""))


def by_name(stages):
    return {s.name: s for s in stages}


def test_paper_stages_run_the_presets_own_settings(tmp_path):
    from reasoning_irl.composition import compose
    from reasoning_irl.training.airl.run import check_reward_model_config
    from reasoning_irl.training.setup import check_vllm

    stages = by_name(plan("paper", GPU, tmp_path, 3))
    reward_name = compose("airl", ["experiment=gsm8k_qwen2.5-3b_airl"]).reward_model.name_or_path
    reward_arch = architecture_of(reward_name)
    built = {m["preset"]: m for m in stages["build"].spec["models"]}
    assert set(built) == {"qwen2.5-3b", reward_arch}
    assert all(m["dtype"] == "bfloat16" and m["device"] == "cuda" for m in built.values())
    # Settings the run itself sets; everything else must be the preset's.
    own = {"run_name", "output_root", "artifacts_dir", "training.max_steps", "training.save_steps"}
    own |= {"training.logging_steps", "training.eval_steps", "sampling.min_completion_length"}
    for method in ("sft", "grpo", "airl"):
        stage = stages[method]
        cfg, preset = stage_config(stage), compose(method, [f"experiment={gpu_smoke.PRESETS[method]}"])
        assert {r.key for r in stage.replacements} <= {"model.name_or_path", "reward_model.name_or_path", "dataset"}
        changed = {k for k, v in flat(cfg).items() if flat(preset).get(k, object()) != v}
        stand_ins = {r.key for r in stage.replacements if r.key != "dataset"}
        assert {k for k in changed if not k.startswith("dataset.")} <= own | stand_ins, method
        assert cfg.dataset.name == "synthetic"
        # The one-GPU recipe, as the presets carry it.
        assert cfg.training.optim == "paged_adamw_8bit" and cfg.training.adam_beta2 == 0.99
        assert cfg.model.load_in_4bit is False and cfg.model.lora.r == 128 and cfg.model.gradient_checkpointing
        assert cfg.model.name_or_path == str(tmp_path / "models" / "random-qwen2.5-3b")
        if method != "sft":
            assert cfg.sampling.use_vllm is True and cfg.sampling.vllm_mode == "colocate"
            assert cfg.sampling.num_generations == 16 and cfg.training.per_device_batch_size == 16
            assert cfg.sampling.max_completion_length == cfg.sampling.min_completion_length == 824
            assert stage.title.endswith("(vLLM colocate)")
        check_vllm(cfg.sampling.use_vllm if "sampling" in cfg else False, cfg.model, on_this_machine=False)
    airl = stage_config(stages["airl"])
    assert airl.reward_model.name_or_path == str(tmp_path / "models" / f"random-{reward_arch}")
    assert airl.reward_model.load_in_4bit is False and airl.reward_model.lora.r == 32
    check_reward_model_config(airl.reward_model)
    assert stages["sample_vllm"].skip is None and stages["sample_hf"].spec["n"] == 16


def test_architecture_of_reads_each_kept_configs_source():
    assert architecture_of("Qwen/Qwen2.5-1.5B-Instruct") == "qwen2.5-1.5b"
    assert architecture_of("Qwen/Qwen2.5-Math-1.5B") == "qwen2.5-math-1.5b"
    with pytest.raises(ValueError, match="Qwen/Qwen2.5-1.5B"):
        architecture_of("Qwen/Qwen2.5-1.5B")  # a prefix of another name is no match


@pytest.mark.parametrize(
    "machine, vllm_why, optim_why",
    [
        (Machine(cuda=False, vllm=True, bitsandbytes=True), "vLLM needs CUDA", "bitsandbytes needs CUDA"),
        (Machine(cuda=True, vllm=False, bitsandbytes=True), "vllm not installed", None),
        (Machine(cuda=True, vllm=True, bitsandbytes=False), None, "bitsandbytes not installed"),
    ],
)
def test_only_what_the_machine_lacks_is_replaced(tmp_path, machine, vllm_why, optim_why):
    stages = by_name(plan("paper", machine, tmp_path, 3))
    for method in ("sft", "grpo", "airl"):
        replaced = {r.key: r for r in stages[method].replacements}
        cfg = stage_config(stages[method])
        if optim_why:
            assert (replaced["training.optim"].value, replaced["training.optim"].why) == ("adamw_torch", optim_why)
        assert cfg.training.optim == ("adamw_torch" if optim_why else "paged_adamw_8bit")
        if method == "sft":
            assert "sampling.use_vllm" not in replaced
            continue
        assert cfg.sampling.use_vllm is (vllm_why is None)
        if vllm_why:
            assert replaced["sampling.use_vllm"].why == vllm_why
            cap = replaced["sampling.max_completion_length"]
            assert (cap.preset, cap.value) == (824, 256)
            assert cfg.sampling.max_completion_length == cfg.sampling.min_completion_length == 256
            assert stages[method].title.endswith("(HF generate)")
        else:
            assert "sampling.use_vllm" not in replaced and cfg.sampling.max_completion_length == 824
    assert stages["sample_vllm"].skip == vllm_why
    assert stages["build"].spec["models"][0]["dtype"] == ("bfloat16" if machine.cuda else "float32")


# --- the whole run, tiny, on this CPU -----------------------------------------------------------------------------
@pytest.mark.slow
def test_tiny_cpu_run_prints_and_records_the_replacements_and_figures(tmp_path):
    done = smoke(tmp_path, DEVICE="cpu", SIZE="tiny", STEPS="2")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    out = tmp_path / "out"
    report = json.loads((out / "gpu_smoke.json").read_text())
    status = {r["stage"]: (r["status"], r.get("note")) for r in report["results"]}
    assert [status[s][0] for s in ("build", "sft", "grpo", "airl", "sample_hf")] == ["ran"] * 5
    assert status["sample_vllm"] == ("skipped", "vLLM needs CUDA")
    assert "skipped: eval sampling, vLLM (LoRA) (vLLM needs CUDA)" in done.stdout
    replaced = {(r["stage"], r["key"]): (r["preset"], r["value"], r["why"]) for r in report["replacements"]}
    for method in ("grpo", "airl"):
        assert replaced[(method, "sampling.use_vllm")] == (True, False, "vLLM needs CUDA")
    for method in ("sft", "grpo", "airl"):
        assert replaced[(method, "training.optim")] == ("paged_adamw_8bit", "adamw_torch", "bitsandbytes needs CUDA")
    assert "replaced: sampling.use_vllm true -> false in grpo, airl (vLLM needs CUDA)" in done.stdout
    assert "replaced: training.optim paged_adamw_8bit -> adamw_torch in sft, grpo, airl (bitsandbytes needs CUDA)" in (
        done.stdout
    )
    # What ran is what was recorded: the runs' own saved configs.
    for method in ("grpo", "airl"):
        saved = OmegaConf.load(out / "runs" / f"smoke-{method}" / "config.yaml")
        assert saved.training.optim == "adamw_torch" and saved.sampling.use_vllm is False
        assert saved.model.lora.r == 128 and saved.sampling.min_completion_length == 16
    figures = {r["stage"]: r.get("figures", {}) for r in report["results"]}
    memory = {r["stage"]: r.get("memory", {}) for r in report["results"]}
    for method in ("grpo", "airl"):
        f = figures[method]
        # 2 prompts x 4 samples x 16 tokens (min_completion_length forces every completion to the cap); AIRL
        # samples the whole group too and puts the expert trace in after.
        assert f["steps"] == 2 and f["tokens"] == 2 * 4 * 16
        assert f["step_s"] > f["generate_s"] > 0 and f["tokens_per_s"] == pytest.approx(128 / f["generate_s"])
    assert figures["sft"]["step_s"] > 0 and "tokens" not in figures["sft"]
    assert 0 < figures["sample_hf"]["tokens"] <= 2 * 4 * 16
    assert all(memory[s]["rss_growth_gib"] >= 0 for s in ("build", "sft", "grpo", "airl", "sample_hf"))
    table = report["summary"]
    assert table == done.stdout.strip().splitlines()[-len(table) :]
    assert any(line.startswith("GRPO steps (HF generate)") and "(cpu)" in line for line in table)


# --- the wheel list ----------------------------------------------------------------------------------------------
BARE = ("torch", "transformers", "peft", "accelerate")


def closure(requirements: list[str]) -> set[str]:
    """Every distribution ``requirements`` pull in, as installed here: markers evaluated for this interpreter, the
    extras a requirement asks for followed (datasets' fsspec[http] brings aiohttp), no other extras."""
    extras: dict[str, set[str]] = {}
    todo = [Requirement(r) for r in requirements]
    while todo:
        req = todo.pop()
        name = canonicalize_name(req.name)
        if name in extras and set(req.extras) <= extras[name]:
            continue
        extras[name] = extras.get(name, set()) | set(req.extras)
        for line in importlib.metadata.distribution(name).requires or []:
            dep = Requirement(line)
            if dep.marker is None or any(dep.marker.evaluate({"extra": e}) for e in extras[name] or {""}):
                todo.append(dep)
    return set(extras)


def needed_wheels() -> set[str]:
    runtime = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    return closure(runtime) - closure(list(BARE))


def listed_wheels() -> dict[str, str]:
    lines = [line.strip() for line in WHEELS.read_text().splitlines() if line.strip() and not line.startswith("#")]
    pairs = [line.split("==") for line in lines]
    assert all(len(p) == 2 and p[1] for p in pairs), "every line is name==version"
    return {canonicalize_name(name): version for name, version in pairs}


def test_the_closure_follows_requested_extras_and_leaves_out_the_bare_machines_own():
    needed = needed_wheels()
    assert {"trl", "datasets", "pyarrow", "pandas", "xxhash", "dill", "multiprocess", "aiohttp", "yarl"} <= needed
    assert {"hydra-core", "omegaconf", "antlr4-python3-runtime", "math-verify", "latex2sympy2-extended"} <= needed
    # numpy (transformers), huggingface-hub (transformers), fsspec (torch), sympy (torch) come with the bare machine.
    assert not {"torch", "numpy", "huggingface-hub", "fsspec", "sympy", "tokenizers", "peft"} & needed


def test_smoke_wheels_lists_exactly_the_needed_distributions_at_the_pinned_versions():
    listed, needed = listed_wheels(), needed_wheels()
    assert sorted(needed - set(listed)) == [], "needed but not in runner_scripts/smoke_wheels.txt"
    assert sorted(set(listed) - needed) == [], "in runner_scripts/smoke_wheels.txt but not needed"
    pins = {}
    for line in (REPO / "constraints" / "gpu.txt").read_text().splitlines():
        if "==" in line and not line.startswith("#"):
            name, version = line.split("==")
            pins[canonicalize_name(name)] = version.strip()
    assert {n: v for n, v in listed.items() if n in pins} == {n: pins[n] for n in listed if n in pins}
    assert "pip wheel --no-deps -w wheels antlr4-python3-runtime==4.9.3" in WHEELS.read_text()
