"""figures/curves.py: learning curves read from metrics.jsonl, averaged over seeds."""

from __future__ import annotations

import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:  # ``figures`` lives at the repository root, not in the installed package
    sys.path.insert(0, str(REPO))

from figures import curves  # noqa: E402


def _run(folder: Path, points: dict[int, float]) -> Path:
    folder.mkdir(parents=True)
    rows = [{"step": 1, "loss": 0.5}]  # a training row: not a curve point
    rows += [{"step": s, "held_out/greedy_accuracy": v, "held_out/habit/slip": 1 - v} for s, v in points.items()]
    (folder / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows) + '{"step": 9, "held')
    return folder


def test_read_curve_and_mean_band(tmp_path):
    a = _run(tmp_path / "a", {0: 0.2, 10: 0.5})
    b = _run(tmp_path / "b", {0: 0.4, 10: 0.7, 20: 0.9})
    assert curves.read_curve(a, curves.ACCURACY) == {0: 0.2, 10: 0.5}  # the torn last line is skipped
    steps, mean, lo, hi = curves._mean_band(
        [curves.read_curve(a, curves.ACCURACY), curves.read_curve(b, curves.ACCURACY)]
    )
    assert steps == [0, 10] and lo == [0.2, 0.5] and hi == [0.4, 0.7]
    assert [round(m, 6) for m in mean] == [0.3, 0.6]


def test_cli_writes_the_figure_and_refuses_a_run_without_a_curve(tmp_path, capsys):
    a = _run(tmp_path / "a", {0: 0.2, 10: 0.5})
    b = _run(tmp_path / "b", {0: 0.4, 10: 0.7})
    assert (
        curves.main(
            [
                "--run",
                "GRPO",
                str(a),
                "--run",
                "GRPO",
                str(b),
                "--run",
                "SFT",
                str(a),
                "--flag",
                "habit/slip",
                "--out",
                str(tmp_path / "fig"),
            ]
        )
        == 0
    )
    assert (tmp_path / "fig" / "learning_curve.png").stat().st_size > 0
    assert curves.flag_title("habit/slip") == "habit rate (slip)" and curves.flag_title("short") == "short rate"
    (tmp_path / "empty").mkdir()
    assert curves.main(["--run", "AIRL", str(tmp_path / "empty"), "--out", str(tmp_path / "fig")]) == 2
    assert "has no held_out/greedy_accuracy rows" in capsys.readouterr().err
