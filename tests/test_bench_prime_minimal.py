"""bench/prime_minimal.py: PRIME's implicit reward trained alone in plain PyTorch (the check that the trainer's
PRIME reward is not broken): its AUROC by hand, and a two-step run whose first row is the untrained reward's."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from reasoning_irl.models import ensure_tiny_model

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))  # bench/ is a folder of scripts

import prime_minimal  # noqa: E402


def test_auroc_by_hand():
    # positives 3 and 1 against negatives 2 and 1: (3>2) + (3>1) + (1<2) + half of (1=1) = 2.5 of 4
    assert prime_minimal.auroc([3.0, 1.0, 2.0, 1.0], [1, 1, 0, 0]) == 2.5 / 4


def test_a_short_run_starts_untrained_and_trains(tmp_path, capsys):
    backbone = ensure_tiny_model(tmp_path / "reward_base" / "final", preset="reward")
    (tmp_path / "reward_base" / "config.yaml").write_text("dataset:\n  system_prompt: Solve.\n")
    samples = tmp_path / "eval_results.jsonl"
    rows = [
        {
            "problem_id": f"p{p}",
            "question": f"What is {p} + 1?",
            "completion": f"<answer>{p + c}</answer>",
            "correct": c == 1,
            "greedy": False,
        }
        for p in range(4)
        for c in (0, 1, 2)
    ]
    rows.append({**rows[0], "greedy": True})  # greedy rows are not training samples
    samples.write_text("".join(json.dumps(r) + "\n" for r in rows))
    args = ["--backbone", str(backbone), "--samples", str(samples), "--steps", "2", "--every", "1"]
    assert prime_minimal.main([*args, "--batch", "4", "--held-out-problems", "2"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("6 train samples, 6 held-out (0.333 correct: a constant guess's loss 0.637)")
    table = [line.split(" | ") for line in out.splitlines() if line.startswith("| 0.0002 |")]
    assert [row[1] for row in table] == ["0", "1", "2"]
    # p = p_ref before any update: every score is 0, so the loss is ln 2 and the AUROC one half
    assert table[0][2:] == ["0.693", "0.500 |"]
    assert table[-1][2] != "0.693"  # the updates moved it
    with pytest.raises(SystemExit):
        prime_minimal.main(["--samples", str(samples)])  # the backbone is required
    # the prompt comes from the backbone run's config.yaml; without one, a prompt must be given
    (tmp_path / "reward_base" / "config.yaml").unlink()
    with pytest.raises(SystemExit, match="give the prompt with --system-prompt"):
        prime_minimal.main(args)


def test_the_prompt_is_the_backbone_runs_own(tmp_path):
    (tmp_path / "final").mkdir()
    (tmp_path / "config.yaml").write_text("dataset:\n  system_prompt: Solve.\n  habit: null\n")
    assert prime_minimal.run_system_prompt(str(tmp_path / "final")) == "Solve."
    (tmp_path / "config.yaml").write_text("dataset:\n  habit: null\n")
    with pytest.raises(SystemExit, match="names no dataset.system_prompt"):
        prime_minimal.run_system_prompt(str(tmp_path / "final"))
