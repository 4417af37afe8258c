"""runner_scripts/gpu_smoke.sh: the dry run, argument checks, and the whole plain-HF part at tiny size on a CPU."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "runner_scripts" / "gpu_smoke.sh"


def smoke(tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHON": sys.executable, "OUT": str(tmp_path / "out"), **env}
    return subprocess.run([shutil.which("bash"), str(SCRIPT)], capture_output=True, text=True, timeout=120, env=env)


def test_dry_run_installs_the_wheels_then_runs_the_smoke(tmp_path):
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    (wheels / "trl-1.16.0-py3-none-any.whl").write_bytes(b"")
    done = smoke(tmp_path, DRY_RUN="1", WHEELS=str(wheels), SIZE="tiny", STEPS="4")
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stdout.splitlines() if line.startswith("+ ")]
    assert "--target" in lines[0] and lines[0].endswith("trl-1.16.0-py3-none-any.whl")
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


def test_tiny_cpu_run_trains_samples_and_skips_the_gpu_only_paths(tmp_path):
    done = smoke(tmp_path, DEVICE="cpu", SIZE="tiny", STEPS="2")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    report = json.loads((tmp_path / "out" / "gpu_smoke.json").read_text())
    status = {path: result for path, result, _ in report["outcomes"]}
    ran = [
        "build random policy",
        "build random reward model",
        "GRPO steps (HF generate)",
        "AIRL steps (HF generate)",
        "evaluation sampling, HF (LoRA merged)",
    ]
    assert [status[p] for p in ran] == ["ran"] * 5
    skipped = [p for p, r in status.items() if r == "skipped"]
    assert len(skipped) == 4 and all(f"skipped: {p} (no CUDA device)" in done.stdout for p in skipped)
    figures = report["figures"]
    assert figures["grpo"]["step_time"] > 0 and figures["airl"]["time/disc_update"] > 0
    assert 0 < figures["sample_hf"]["tokens"] <= 2 * 4 * 16 and figures["sample_hf"]["tokens_per_s"] > 0
    assert any(line.strip().startswith("AIRL / GRPO step time") for line in report["summary"])
