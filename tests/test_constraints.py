"""The two pin sets stay one: what a GPU user installs (constraints/gpu.txt) is what the suite runs
(constraints/cpu.txt), less the CUDA-only packages; and the vLLM pin is one the pinned TRL says it supports."""

from __future__ import annotations

import importlib.metadata
import re
from pathlib import Path

from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
CUDA_ONLY = {"vllm", "bitsandbytes"}  # no CPU wheel imports them here; docs/scaling_out.md says how they are checked


def pins(name: str) -> dict[str, str]:
    found = {}
    for line in (ROOT / "constraints" / name).read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            package, version = line.split("==")
            found[package.lower().replace("_", "-")] = version
    return found


def test_the_gpu_set_is_the_cpu_set_plus_the_cuda_only_packages():
    cpu, gpu = pins("cpu.txt"), pins("gpu.txt")
    assert set(gpu) - set(cpu) == CUDA_ONLY
    assert set(cpu) <= set(gpu)
    differ = {p: (cpu[p], gpu[p]) for p in cpu if cpu[p] != gpu[p]}
    assert not differ, f"cpu.txt and gpu.txt pin different versions (cpu, gpu): {differ}"


def test_this_environment_runs_the_pinned_versions():
    """The suite's verdict covers the GPU set only if it ran those versions (torch: the CPU build of the same one)."""
    wrong = {}
    for package, version in pins("cpu.txt").items():
        installed = importlib.metadata.version(package)
        if Version(installed).base_version != Version(version).base_version:  # torch's "+cpu" local tag
            wrong[package] = (installed, version)
    assert not wrong, f"installed vs pinned: {wrong}; run make install"


def test_the_vllm_pin_is_inside_trls_supported_range():
    """TRL warns outside its declared range and makes no promise there; the range is read from TRL's own check."""
    import importlib.util

    source = Path(importlib.util.find_spec("trl.import_utils").origin).read_text()
    low, high = re.search(r'Version\("([\d.]+)"\) <= _vllm_base_version <= Version\("([\d.]+)"\)', source).groups()
    assert Version(low) <= Version(pins("gpu.txt")["vllm"]) <= Version(high), (low, high)
