"""Where two lines of the demonstration sweep cross."""

from __future__ import annotations

import pytest

from figures.sweeps import crossover, plot_longer


def test_crossover_on_a_log_axis():
    # gaps +0.2 at 16 and -0.2 at 64: halfway on a log axis, sqrt(16 * 64) = 32
    assert crossover([16, 64, 256], [0.3, 0.5, 0.6], [0.5, 0.3, 0.2]) == pytest.approx(32.0)
    assert crossover([16, 64, 256], [0.5, 0.4, 0.3], [0.3, 0.4, 0.5]) == 64  # equal at 64
    assert crossover([16, 64], [0.1, 0.2], [0.3, 0.4]) is None  # one line above throughout


def test_the_longer_problems_figure_is_written(tmp_path):
    level = {"value": 0.3, "ci": [0.2, 0.4]}
    said = plot_longer({"2 steps": {"SFT": level, "AIRL": level}, "3 steps": {"SFT": level, "AIRL": level}}, tmp_path)
    assert said == f"figure: {tmp_path / 'longer_sweep.png'}" and (tmp_path / "longer_sweep.pdf").is_file()
