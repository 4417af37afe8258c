"""A refused config writes nothing: the whole check runs before Hydra creates the run folder or its ``.hydra/``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
HYDRA_FILES = {"config.yaml": "seed: 7\n", "hydra.yaml": "hydra: {}\n", "overrides.yaml": "- seed=7\n"}


def existing_run(root: Path, name: str, with_checkpoint: bool) -> Path:
    """A run folder as an earlier run left it: its .hydra/ (and maybe a checkpoint)."""
    (root / name / ".hydra").mkdir(parents=True)
    for file, text in HYDRA_FILES.items():
        (root / name / ".hydra" / file).write_text(text)
    if with_checkpoint:
        (root / name / "checkpoint-3").mkdir()
    return root / name


def run_script(script: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, script, *args], cwd=REPO, capture_output=True, text=True, timeout=300)


# (script, preset, overrides, whether the run folder exists before, with a checkpoint, the error's text)
CASES = {
    "unknown-key": ("sft_train.py", "tiny_sft", ["+training.bogus=1"], True, False, "Key 'bogus' not in"),
    "fresh-run-onto-checkpoints": ("sft_train.py", "tiny_sft", [], True, True, "already has checkpoints"),
    "invalid-option-pair": (
        "irl_train.py",
        "tiny_airl",
        ["method.reward_mode=sparse"],
        False,
        False,
        "method.advantage must be sparse",
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_refused_config_writes_nothing(case, tmp_path, artifacts):
    script, preset, overrides, exists, with_checkpoint, says = CASES[case]
    if exists:
        existing_run(tmp_path, "run", with_checkpoint)
    before = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*"))
    done = run_script(
        script,
        f"experiment={preset}",
        "run_name=run",
        f"output_root={tmp_path}",
        f"artifacts_dir={artifacts}",
        *overrides,
    )
    assert done.returncode == 2, done.stderr[-2000:]
    assert done.stderr.strip().splitlines()[-1].startswith("error: ") and says in done.stderr
    assert "Traceback" not in done.stderr
    assert sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*")) == before  # no new file or folder
    if exists:
        for file, text in HYDRA_FILES.items():
            assert (tmp_path / "run" / ".hydra" / file).read_text() == text
