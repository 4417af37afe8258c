"""The miniature's mechanism at test size: a policy that knows the arithmetic but has a habit loses the habit
under GRPO with the verifiable reward, and under AIRL with the learned dense reward (no gold answer).

As in the demo (configs/experiment/demo_habit.yaml, demo_grpo.yaml, demo_airl.yaml), scaled down: the base is
the session's demo reward backbone (tests/training/conftest.py ``reward_base``: the small tiny preset SFT'd 1500
steps on clean expert traces, which knows the arithmetic), taught by 120 SFT steps on targets of which 60% skip
the last step; each method then makes 10 policy updates. The held-out learning curve (``training.eval_steps``:
32 validation problems, 4 samples each at T = 1) is read from metrics.jsonl. Measured (seed 0): the habit in
0.60 of the samples before, 0.00 after 10 updates of GRPO and of AIRL; pass@1 0.19 -> 0.58 (GRPO), 0.55 (AIRL).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reasoning_irl.composition import compose
from reasoning_irl.training.airl.run import run_airl
from reasoning_irl.training.grpo import run_grpo
from reasoning_irl.training.sft import run_sft

UPDATES = 10
CURVE = [f"training.max_steps={UPDATES}", f"training.eval_steps={UPDATES}", "training.eval_problems=32"]


@pytest.fixture(scope="module")
def habit_base(artifacts, reward_base, tmp_path_factory) -> tuple[Path, list[str]]:
    out = tmp_path_factory.mktemp("learning")
    common = [f"output_root={out}", f"artifacts_dir={artifacts}"]
    habit = run_sft(
        compose(
            "sft",
            [
                "experiment=demo_habit",
                *common,
                f"model.name_or_path={reward_base}/final",
                "training.max_steps=120",
                "dataset.habit=skip_last_step",
                "dataset.habit_rate=0.6",
            ],
        )
    )
    return habit / "final", common


def held_out_curve(run_dir: Path) -> list[dict]:
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines() if line.strip()]
    return [r for r in rows if "held_out/pass@1" in r]


def assert_habit_removed(curve: list[dict]) -> None:
    first, last = curve[0], curve[-1]
    print("held-out curve:", [(r["step"], r["held_out/pass@1"], r["held_out/habit/skip_last_step"]) for r in curve])
    assert [first["step"], last["step"]] == [0, UPDATES]
    assert first["held_out/habit/skip_last_step"] > 0.3  # the base shows the habit
    assert last["held_out/habit/skip_last_step"] < 0.1
    assert last["held_out/pass@1"] > first["held_out/pass@1"] + 0.15


def test_grpo_with_the_verifiable_reward_removes_the_habit(habit_base):
    base, common = habit_base
    run_dir = run_grpo(
        compose(
            "grpo",
            ["experiment=demo_grpo", *common, f"model.name_or_path={base}", "training.learning_rate=1e-3", *CURVE],
        )
    )
    assert_habit_removed(held_out_curve(run_dir))


def test_airl_with_the_learned_reward_removes_the_habit(habit_base, reward_base):
    base, common = habit_base
    run_dir = run_airl(
        compose(
            "airl",
            [
                "experiment=demo_airl",
                *common,
                f"model.name_or_path={base}",
                f"reward_model.name_or_path={reward_base}/final",
                "training.learning_rate=1e-3",
                *CURVE,
            ],
        )
    )
    assert_habit_removed(held_out_curve(run_dir))
