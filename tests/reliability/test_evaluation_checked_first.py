"""An evaluation that cannot run is refused by the entry scripts' check before Hydra runs: one line, and no output
folder, no log file in it (Hydra creates both as soon as it runs the job)."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from reasoning_irl.cli import CONFIG_ERROR_EXIT, check_overrides


def files(folder: Path) -> dict[Path, bytes]:
    return {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()} if folder.exists() else {}


def empty_test_split(tmp: Path) -> Path:
    folder = tmp / "gsm8k"
    folder.mkdir()
    (folder / "train.jsonl").write_text('{"question": "1+1?", "answer": "2\\n#### 2"}\n')
    (folder / "test.jsonl").write_text("\n")
    return folder


def in_use(tmp: Path) -> None:
    """``tmp/out`` held by an evaluation on another host."""
    (tmp / "out").mkdir()
    (tmp / "out" / ".lock").write_text(
        json.dumps({"pid": 1, "host": "elsewhere", "since": "2026-01-01T00:00:00+00:00"})
    )


CASES = {  # case: (script, overrides given tmp_path, start of the one line, what to prepare in tmp_path)
    "ks-above-num-samples": ("evaluate", lambda t: ["ks=[1,4,16]"], "error: ks=[1, 4, 16]: k=16 is more than", None),
    "missing-policy": (
        "evaluate",
        lambda t: [f"policy={t}/none/final"],
        "error: policy: {t}/none/final does not",
        None,
    ),
    "temperature-zero": ("evaluate", lambda t: ["sampling.temperature=0"], "error: sampling.temperature must be", None),
    "policy-not-a-model": (
        "evaluate",
        lambda t: [f"policy={t}/empty"],
        "error: policy: {t}/empty holds neither a LoRA adapter",
        lambda t: (t / "empty").mkdir(),
    ),
    "empty-test-split": (
        "evaluate",
        lambda t: ["dataset=gsm8k", f"dataset.path={t}/gsm8k"],
        "error: split 'test' of gsm8k is empty ({t}/gsm8k/test.jsonl)",
        empty_test_split,
    ),
    "vllm-without-a-gpu": (
        "evaluate",
        lambda t: ["sampling.use_vllm=true"],
        "error: sampling.use_vllm=true needs",
        None,
    ),
    "output-folder-in-use": ("evaluate", lambda t: [], "error: {t}/out is in use by pid 1 on elsewhere", in_use),
    "missing-reward-model": (
        "evaluate_irl",
        lambda t: [f"reward_model_path={t}/rm"],
        "error: reward_model_path: {t}/rm does not exist",
        None,
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_an_evaluation_that_cannot_run_is_refused_before_hydra_writes(case, tmp_path, capsys):
    script, overrides, says, prepare = CASES[case]
    if case == "vllm-without-a-gpu" and torch.cuda.is_available() and importlib.util.find_spec("vllm"):
        pytest.skip("vLLM can run here")
    out = tmp_path / "out"
    if prepare is not None:
        prepare(tmp_path)
    before = files(out)
    argv = [f"output_dir={out}", f"artifacts_dir={tmp_path}/artifacts", *overrides(tmp_path)]
    with pytest.raises(SystemExit) as stopped:
        check_overrides(script, argv)  # what the entry script runs before Hydra creates the output folder
    assert stopped.value.code == CONFIG_ERROR_EXIT
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(says.format(t=tmp_path)), err
    assert files(out) == before and out.exists() == bool(before)  # no folder, no log file, nothing touched
    assert not (tmp_path / "artifacts").exists()  # no model was built either


def test_evaluate_py_leaves_no_output_folder_or_log(repo_root, tmp_path):
    out = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, str(repo_root / "evaluate.py"), "ks=[1,4,16]", f"output_dir={out}"],
        cwd=repo_root,
        capture_output=True,
        text=True,
        timeout=300,
    )
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == CONFIG_ERROR_EXIT and len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: ks=[1, 4, 16]: k=16 is more than sampling.num_samples=8")
    assert not out.exists()  # Hydra's evaluate.log would be in it
