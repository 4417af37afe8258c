import json
import subprocess
import sys

import pytest


def run_preview(*args, cwd):
    return subprocess.run(
        [sys.executable, "-m", "reasoning_irl.data", *args], capture_output=True, text=True, cwd=cwd, timeout=120
    )


def test_preview_prints_json_lines(repo_root):
    out = run_preview("dataset=synthetic", "split=test", "n=3", cwd=repo_root)
    assert out.returncode == 0, out.stderr
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    assert len(rows) == 3
    assert all(set(r) == {"id", "prompt", "target", "answer"} for r in rows)
    assert rows[0]["prompt"][-1]["role"] == "user" and rows[0]["target"].startswith("<think>\n")


@pytest.mark.parametrize(
    "args, message",
    [
        (["dataset=nope"], "Could not find 'dataset/nope'"),
        (["split=dev"], "unknown split 'dev'"),
        (["dataset.num_trian=1"], "dataset.num_trian: unknown config key"),
        (["n=-1"], "n must be >= 0, got -1"),
    ],
)
def test_preview_bad_input_is_one_error_line(repo_root, args, message):
    out = run_preview(*args, cwd=repo_root)
    assert out.returncode == 2 and out.stdout == ""
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0]
