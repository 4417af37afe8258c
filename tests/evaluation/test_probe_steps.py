"""Whether the token reward is lowest on the step a probe flags (evaluation/probe_steps.py), by hand, with the
synthetic task's habit probes."""

from __future__ import annotations

import pytest

from reasoning_irl.data import dataset_probes
from reasoning_irl.evaluation.probe_steps import step_localization

PROBES = dataset_probes({"name": "synthetic"})
LOCATE_SLIP = PROBES["habit/slip"].locate


def row(problem, lines, rewards, correct=False, slip=False, greedy=False):
    """A sample whose step i is exactly one token carrying rewards[i]; the tokens around the steps get 0."""
    tokens = ["<think>\n"]
    token_rewards = [0.0]
    for line, reward in zip(lines, rewards):
        tokens += [line, "\n"]
        token_rewards += [reward, 0.0]
    tokens.append("</think>")
    token_rewards.append(0.0)
    flags = {"habit/skip_last_step": not correct and not slip, "habit/slip": slip, "habit/swap_operator": False}
    return {
        "problem_id": problem,
        "greedy": greedy,
        "completion": "".join(tokens),
        "tokens": tokens,
        "token_rewards": token_rewards,
        "correct": correct,
        "flags": flags,
    }


ROWS = [
    row("p1", ["4 + 6 = 11", "11 * 2 = 22"], [-1.0, 0.5], slip=True),  # slip at 0, lowest 0: hit
    row("p2", ["3 + 1 = 4", "4 * 2 = 9"], [-0.5, 0.2], slip=True),  # slip at 1, lowest 0: miss
    row("p3", ["5 + 5 = 9", "9 + 1 = 10"], [0.1, 0.1], slip=True),  # slip at 0, both lowest: 1/2
    row("p1", ["4 + 6 = 10", "10 * 2 = 20"], [0.0, 0.3], correct=True),
    row("p2", ["3 + 1 = 4", "4 * 2 = 8"], [-0.8, 1.0], correct=True),
    row("p3", ["5 + 5 = 10"], [9.0]),  # wrong, another habit: not counted anywhere
    row("p3", ["5 + 5 = 11", "11 + 1 = 12"], [-9.0, 0.0], slip=True, greedy=True),  # greedy rows are no samples
]


def test_localisation_baselines_and_matched_auroc_by_hand():
    out = step_localization(ROWS, "habit/slip", LOCATE_SLIP)
    assert out["localization"]["value"] == pytest.approx((1 + 0 + 0.5) / 3)
    assert out["localization"]["n"] == 3 and out["localization"]["n_problems"] == 3
    assert out["baselines"]["first_step"]["value"] == pytest.approx(2 / 3)  # slips at steps 0, 1, 0
    assert out["baselines"]["last_step"]["value"] == pytest.approx(1 / 3)
    assert out["baselines"]["uniform"]["value"] == pytest.approx(0.5)
    assert out["vs_first_step"]["value"] == pytest.approx((0 + 0 - 0.5) / 3)
    # Step 0 of two: slipped {-1.0, 0.1} vs correct {0.0, -0.8}: 2 of 4 pairs clean above -> 0.5 (weight 2).
    # Step 1 of two: slipped {0.2} vs correct {0.3, 1.0}: 1.0 (weight 1). Weighted: (2 * 0.5 + 1.0) / 3.
    assert out["step_auroc"]["value"] == pytest.approx(2 / 3)
    assert out["step_auroc"]["n_flagged_steps"] == 3
    lo, hi = out["localization"]["ci"]
    assert 0.0 <= lo <= out["localization"]["value"] <= hi <= 1.0


def test_nothing_to_measure_is_none():
    assert PROBES["habit/skip_last_step"].locate is None  # a skipped step has no tokens to point at
    assert step_localization(ROWS, "habit/swap_operator", LOCATE_SLIP) is None  # no sample flagged
    unscored = [{**r, "token_rewards": None} for r in ROWS]  # an evaluation without a reward model
    assert step_localization(unscored, "habit/slip", LOCATE_SLIP) is None
    torn = [{**r, "tokens": r["tokens"][:-1]} for r in ROWS]  # tokens that do not spell the completion
    assert step_localization(torn, "habit/slip", LOCATE_SLIP) is None
