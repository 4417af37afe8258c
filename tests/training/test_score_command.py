"""The scoring command on real GSM8K rows with the reward model of a tiny AIRL run, and its one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from reasoning_irl.composition import compose
from reasoning_irl.evaluation.selectors import SELECTORS
from reasoning_irl.score import main
from reasoning_irl.training.airl import run as airl_run
from reasoning_irl.training.airl.trainer import REWARD_MODEL_DIR

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def reward_model(artifacts, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("score_airl")
    cfg = compose(
        "airl",
        [
            "experiment=tiny_airl",
            f"output_root={out}",
            f"artifacts_dir={artifacts}",
            "training.max_steps=1",
            "sampling.max_completion_length=8",
            "method.disc_updates_per_step=2",
            "method.perturbations_per_expert=2",
        ],
    )
    return airl_run.run_airl(cfg) / REWARD_MODEL_DIR


@pytest.fixture(scope="module")
def gsm8k_head(shared_data, tmp_path_factory) -> Path:
    lines = (shared_data / "gsm8k" / "test.jsonl").read_text().splitlines()[:20]
    path = tmp_path_factory.mktemp("input") / "gsm8k20.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_scores_gsm8k_rows_from_another_directory(reward_model, gsm8k_head, tmp_path):
    meta = json.loads((reward_model / "reward_model.json").read_text())
    assert meta["prompt"]["system_prompt"].startswith("Solve. Reason in <think>")  # the tiny_airl preset's
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    (tmp_path / "cwd").mkdir()
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "reasoning_irl.score",
            f"reward_model_path={reward_model}",
            f"input={gsm8k_head}",
            "output=../scored",
            "reward_batch_size=8",
        ],
        cwd=tmp_path / "cwd",
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    rows = [json.loads(line) for line in (tmp_path / "scored" / "scores.jsonl").read_text().splitlines()]
    gold = [json.loads(line) for line in gsm8k_head.read_text().splitlines()]
    assert [r["solution"] for r in rows] == [g["answer"] for g in gold]
    for row in rows:
        lines = [line.strip() for line in row["solution"].split("\n") if line.strip()]
        assert row["steps"] == lines and len(row["step_rewards"]) == len(lines)
        assert len(row["token_rewards"]) == len(row["tokens"]) > 0
        assert set(row["scores"]) == set(SELECTORS.names())
        assert row["scores"]["sum"] == pytest.approx(sum(row["token_rewards"]))
        assert row["step_rewards"] == pytest.approx([sum(row["token_rewards"][a:b]) for a, b in row["step_tokens"]])
    page = (tmp_path / "scored" / "tokens.html").read_text()
    assert page.count('class="row"') == 20
    assert "&lt;&lt;" in page and "<<" not in page  # GSM8K's <<48/2=24>> annotations are escaped, not markup


@pytest.mark.parametrize(
    "case, expected",
    [
        ("missing", "does not exist"),
        ("bad_json", "bad.jsonl:1: not valid JSON"),  # no good row: refused (mixed files: tests/reliability)
        ("no_field", "bad.jsonl:1: no text field 'answer'"),
        ("unknown_key", "colour: unknown config key"),
        ("old_key", "reward_model= is now reward_model_path="),
        ("not_empty", "is not empty (pass overwrite=true"),
    ],
)
def test_errors_are_one_line(reward_model, tmp_path, capsys, case, expected):
    bad = tmp_path / "bad.jsonl"
    bad.write_text(
        {"bad_json": "{oops\n", "no_field": '{"question": "q", "solution": "a"}\n'}.get(
            case, '{"question": "q", "answer": "a"}\n'
        )
    )
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "keep.txt").write_text("kept")
    args = [
        f"{'reward_model' if case == 'old_key' else 'reward_model_path'}={reward_model}",
        f"input={tmp_path / 'missing.jsonl' if case == 'missing' else bad}",
        f"output={tmp_path / ('full' if case == 'not_empty' else 'out')}",
    ] + (["colour=red"] if case == "unknown_key" else [])
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and expected in err and err.count("\n") == 1, err
    assert (tmp_path / "full" / "keep.txt").read_text() == "kept" and not (tmp_path / "out").exists()
