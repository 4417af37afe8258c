"""training.eval_steps: the held-out learning curve, by hand and in SFT, GRPO and AIRL runs."""

from __future__ import annotations

import pytest
from tiny_runs import read_metrics

from reasoning_irl.composition import compose
from reasoning_irl.config import ConfigError
from reasoning_irl.data import dataset_probes
from reasoning_irl.training.airl.run import run_airl
from reasoning_irl.training.grpo import run_grpo
from reasoning_irl.training.held_out import grade
from reasoning_irl.training.sft import run_sft

SYNTHETIC_PROBES = dataset_probes({"name": "synthetic"})
EVAL = ["training.eval_steps=2", "training.eval_problems=3", "training.eval_max_new_tokens=6", "training.max_steps=4"]


def _target(lines, answer):
    return "<think>\n" + "".join(f"{line}\n" for line in lines) + f"</think>\n<answer>\n{answer}\n</answer>"


def test_grade_by_hand():
    records = [
        {"answer": "14", "target": _target(["12 + 5 = 17", "17 - 3 = 14"], "14")},
        {"answer": "9", "target": _target(["4 + 2 = 6", "6 + 3 = 9"], "9")},
        {"answer": "1", "target": _target(["3 - 2 = 1", "1 + 0 = 1"], "1")},
    ]
    completions = [
        _target(["12 + 5 = 17", "17 - 3 = 14"], "14"),  # right
        _target(["4 + 2 = 6"], "6"),  # skipped the last step
        "no answer at all",
    ]
    out = grade(records, completions, probes=SYNTHETIC_PROBES)
    assert out["held_out/greedy_accuracy"] == pytest.approx(1 / 3) and "held_out/pass@1" not in out
    assert out["held_out/habit/skip_last_step"] == pytest.approx(1 / 3)  # over the greedy answers
    assert out["held_out/habit/slip"] == 0 and out["held_out/habit/swap_operator"] == 0
    # With samples: pass@1 and the habit rates are over the 4 samples (2 right, 1 skipped, 1 slipped).
    samples = [
        [completions[0], _target(["12 + 5 = 17"], "17")],
        [_target(["4 + 2 = 7", "7 + 3 = 10"], "10"), _target(["4 + 2 = 6", "6 + 3 = 9"], "9")],
        [],
    ]
    out = grade(records, completions, samples, SYNTHETIC_PROBES)
    assert out["held_out/greedy_accuracy"] == pytest.approx(1 / 3) and out["held_out/pass@1"] == pytest.approx(2 / 4)
    assert out["held_out/habit/skip_last_step"] == pytest.approx(1 / 4)
    assert out["held_out/habit/slip"] == pytest.approx(1 / 4) and out["held_out/habit/swap_operator"] == 0
    assert grade(
        [{"answer": "B", "target": "<think>\nprose\n</think>\n<answer>\nB\n</answer>"}],
        ["<answer>B</answer>"],
        probes=SYNTHETIC_PROBES,
    ) == {"held_out/greedy_accuracy": 1.0}  # the habit probes are not defined off the synthetic task's chains
    assert grade(records, completions) == {"held_out/greedy_accuracy": pytest.approx(1 / 3)}  # no probes, no rates


def _curve(run_dir):
    rows = [row for row in read_metrics(run_dir) if "held_out/greedy_accuracy" in row]
    assert len({row["step"] for row in rows}) == len(rows), "a step was evaluated twice"
    return {row["step"]: row for row in rows}


@pytest.mark.parametrize("method", ["sft", "grpo"])
def test_sft_and_grpo_log_the_curve_before_and_every_eval_steps(compose_run, method):
    run = {"sft": run_sft, "grpo": run_grpo}[method]
    curve = _curve(run(compose_run(method, *EVAL)))
    assert sorted(curve) == [0, 2, 4]
    for row in curve.values():
        assert 0 <= row["held_out/greedy_accuracy"] <= 1 and 0 <= row["held_out/pass@1"] <= 1
        assert "held_out/habit/skip_last_step" in row
        assert "loss" not in row  # its own row: the training window is not flushed by it


def test_airl_logs_the_curve(artifacts, tmp_path):
    cfg = compose(
        "airl",
        [
            "experiment=tiny_airl",
            f"output_root={tmp_path}",
            f"artifacts_dir={artifacts}",
            "sampling.max_completion_length=8",
            "method.disc_updates_per_step=1",
            "method.perturbations_per_expert=1",
            *EVAL,
        ],
    )
    assert sorted(_curve(run_airl(cfg))) == [0, 2, 4]


def test_curve_needs_validation_rows(compose_run):
    with pytest.raises(ConfigError, match="training.eval_steps needs validation problems"):
        run_sft(compose_run("sft", *EVAL, "dataset.validation_size=0"))
    with pytest.raises(ConfigError, match="training.eval_steps and eval_samples must be >= 0"):
        run_sft(compose_run("sft", "training.eval_steps=-1"))
