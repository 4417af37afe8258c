"""RL fixes a habit: a shortened demo (a small clean base, then the skip-last-step habit) and GRPO with the
verifiable reward from it, whose held-out habit rate must fall within a few dozen updates.

This is the miniature's learning claim at test size (the demo measures it in full, docs/RESULTS.md): outcome RL
cannot teach arithmetic facts in a few updates, but it can remove a structural habit that is always wrong.
"""

from __future__ import annotations

import pytest
from tiny_runs import read_metrics

from reasoning_irl.config import compose
from reasoning_irl.training.grpo import run_grpo
from reasoning_irl.training.sft import run_sft

pytestmark = pytest.mark.slow

BASE_STEPS, HABIT_STEPS, GRPO_STEPS = 300, 150, 20
HABIT = "held_out/habit/skip_last_step"


def _common(artifacts, out, seed=0):
    return [f"output_root={out}", f"artifacts_dir={artifacts}", f"seed={seed}"]


@pytest.fixture(scope="module")
def habit_base(artifacts, tmp_path_factory):
    out = tmp_path_factory.mktemp("habit")
    run_sft(compose("sft", ["experiment=demo_base", f"training.max_steps={BASE_STEPS}", "training.learning_rate=3e-3",
                            *_common(artifacts, out)]))
    run_sft(compose("sft", ["experiment=demo_habit", f"training.max_steps={HABIT_STEPS}", *_common(artifacts, out)]))
    return out


def test_grpo_removes_the_habit_on_held_out_problems(habit_base, artifacts):
    run_dir = run_grpo(compose("grpo", [
        "experiment=demo_grpo", f"training.max_steps={GRPO_STEPS}", f"training.eval_steps={GRPO_STEPS}",
        "training.eval_problems=64", "training.eval_samples=4", *_common(artifacts, habit_base)]))
    curve = {row["step"]: row[HABIT] for row in read_metrics(run_dir) if HABIT in row}
    assert sorted(curve) == [0, GRPO_STEPS]
    assert curve[0] >= 0.2, f"the base should show the habit, got {curve[0]:.3f}"
    assert curve[GRPO_STEPS] <= curve[0] / 3, f"habit rate {curve[0]:.3f} -> {curve[GRPO_STEPS]:.3f}"
