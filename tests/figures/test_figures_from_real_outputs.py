"""make_figures on what evaluate.py and evaluate_irl.py really write (tiny policy and reward model), so a
figure cannot silently read a key only a hand-made fixture has; and the problem-level statistics by hand."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
for extra in (REPO.parent, REPO / "evaluation"):  # ``figures`` at the repository root; the evaluation helpers
    if str(extra) not in sys.path:
        sys.path.insert(0, str(extra))

from eval_helpers import SMALL, compose_eval, eval_artifacts, one_thread  # noqa: E402,F401  (fixtures)

from figures import make_figures  # noqa: E402
from figures.paired import auroc_by_problem, gain_over_random  # noqa: E402


@pytest.fixture(scope="module")
def real_outputs(eval_artifacts, tmp_path_factory):
    from reasoning_irl.evaluation.policy_eval import run_evaluate
    from reasoning_irl.evaluation.reward_eval import run_evaluate_irl

    root = tmp_path_factory.mktemp("real")
    for name, policy in (("base", []), ("tuned", [f"policy={eval_artifacts['adapter']}"])):
        run_evaluate(
            compose_eval(
                "evaluate",
                eval_artifacts,
                root / name,
                *policy,
                f"reward_model_path={eval_artifacts['rm']}",
                "num_problems=3",
                *SMALL,
            )
        )
    run_evaluate_irl(
        compose_eval(
            "evaluate_irl",
            eval_artifacts,
            root / "irl",
            f"reward_model_path={eval_artifacts['rm']}",
            "dataset.num_test=8",
            "num_problems=4",
            "progress=false",
        )
    )
    out = root / "figures"
    assert (
        make_figures.main(
            [
                str(root / "base"),
                str(root / "tuned"),
                "--out",
                str(out),
                "--labels",
                "base",
                "tuned",
                "--irl",
                str(root / "irl"),
                "--html-max-problems",
                "2",
            ]
        )
        == 0
    )
    return root, out


def test_every_figure_and_table_from_real_outputs(real_outputs, capsys):
    root, out = real_outputs
    for stem in (
        "pass_at_k",
        "rerank",
        "rerank_gain",
        "reward_distributions",
        "token_heatmaps",
        "irl_trace",
        "irl_per_kind",
    ):
        for ext in ("png", "pdf"):
            assert (out / f"{stem}.{ext}").stat().st_size > 0, stem
    for stem in ("pass_at_k", "rerank", "summary", "irl_diagnostics", "irl_selectors"):
        assert (out / f"{stem}.md").stat().st_size > 0 and (out / f"{stem}.tex").stat().st_size > 0, stem
    diag = json.loads((root / "irl" / "irl_diagnostics.json").read_text())
    table = (out / "irl_diagnostics.md").read_text()
    kinds = ["all", *sorted(diag["by_kind"])]
    rows = [line for line in table.splitlines() if line.startswith("| ") and not line.startswith("| Kind")]
    assert [r.split(" | ")[0][2:] for r in rows] == kinds  # one row per kind, no config dump
    # CIs on pairwise acc., and on localisation and its three baselines where the kind has a first corrupted step
    for r, d in zip(rows, [diag, *(diag["by_kind"][k] for k in kinds[1:])]):
        assert r.count("[") == (5 if d["localization"]["n"] else 1), r
    loc = diag["localization"]
    assert f"{loc['baselines']['first_step']['value']:.3f} [" in rows[0]


def test_html_from_real_outputs(real_outputs):
    root, out = real_outputs
    page = (out / "tokens.html").read_text(encoding="utf-8")
    row = json.loads((root / "base" / "eval_results.jsonl").read_text().splitlines()[0])
    assert row["question"] and row["question"].splitlines()[0][:20] in page.replace("&#x27;", "'")
    assert page.count('<details class="problem">') == 4  # 2 of 3 eval problems, 2 of 4 trace problems
    assert "sample -1" not in page and "greedy · " in page


def test_gain_over_random_matches_the_summary(real_outputs):
    root, _ = real_outputs
    rows = [json.loads(line) for line in (root / "tuned" / "eval_results.jsonl").read_text().splitlines()]
    metrics = json.loads((root / "tuned" / "eval_summary.json").read_text())["metrics"]
    for sel, g in gain_over_random(rows).items():
        want = metrics[f"success@1|4/{sel}"]["value"] - metrics["random@1|4"]["value"]
        assert g["value"] == pytest.approx(want) and g["ci"][0] <= g["value"] <= g["ci"][1] and g["n"] == 3


def test_gain_over_random_by_hand():
    # p0: the top score is the correct sample (success 1), 1 of 2 correct (random 1/2): +1/2.
    # p1: the top score is wrong, 1 of 2 correct: -1/2.  p2: both correct: 0.  Mean 0.
    rows = [
        {"problem_id": p, "sample_index": i, "correct": c, "scores": {"s": v}}
        for p, i, c, v in [
            ("p0", 0, True, 2.0),
            ("p0", 1, False, 1.0),
            ("p1", 0, True, 1.0),
            ("p1", 1, False, 2.0),
            ("p2", 0, True, 0.0),
            ("p2", 1, True, 0.0),
        ]
    ]
    rows.append({"problem_id": "p0", "sample_index": -1, "greedy": True, "correct": False, "scores": {"s": 9.0}})
    g = gain_over_random(rows)["s"]
    assert g["value"] == pytest.approx(0.0) and g["N"] == 2 and g["n"] == 3
    assert -0.5 <= g["ci"][0] < 0 < g["ci"][1] <= 0.5


def test_auroc_by_problem_by_hand():
    # Pooled AUROC: correct {3, 2} over wrong {1, 2}: 3.5 of 4 pairs.
    got = auroc_by_problem([3, 1, 2, 2], [True, False, True, False], ["a", "a", "b", "b"])
    assert got["auroc"] == pytest.approx(0.875) and got["n_problems"] == 2
    # Resamples: {a,a} -> 1, {b,b} -> 0.5, mixed -> 0.875; half the draws sit at or below 0.5 only for {b,b}.
    assert got["ci"] == pytest.approx([0.5, 1.0])
    assert got["p"] == pytest.approx(2 * 0.25, abs=0.08)
    # Few problems, many samples: easy problems score high and are mostly solved, hard ones the opposite, and
    # within a problem the score says nothing. A rank test over samples calls that overwhelming; over problems
    # it is 4 data points, and a resample holding only easy (or only hard) problems sits at 0.5.
    from reasoning_irl.evaluation.diagnostics import mann_whitney

    rng = np.random.default_rng(0)
    scores, labels, groups = [], [], []
    for p in range(4):
        easy = p % 2 == 0
        for _ in range(200):
            labels.append(bool(rng.random() < (0.8 if easy else 0.2)))
            scores.append((1.0 if easy else -1.0) + rng.normal())
            groups.append(p)
    by_problem = auroc_by_problem(scores, labels, groups)
    assert (
        by_problem["auroc"] > 0.7
        and mann_whitney([s for s, c in zip(scores, labels) if c], [s for s, c in zip(scores, labels) if not c])[2]
        < 1e-10
    )
    assert by_problem["p"] > 0.01 and by_problem["ci"][0] < 0.55
    one_class = auroc_by_problem([1.0, 2.0], [True, True], ["a", "b"])
    assert np.isnan(one_class["auroc"]) and np.isnan(one_class["p"])
