"""Held-out pass@1 against the number of expert demonstrations, one line per method with its CI band, and where the
lines cross (runner_scripts/sweep_report.py draws it from runner_scripts/demo_sweeps.sh's demos sweep)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Optional

from figures.plots import RC, WIDTH, _band, plt, save


def crossover(xs: list[float], first: list[float], second: list[float]) -> Optional[float]:
    """The x (interpolated on a log axis) where ``second - first`` first changes sign, or None."""
    gaps = [b - a for a, b in zip(first, second)]
    for i in range(1, len(gaps)):
        if gaps[i - 1] == 0:
            return xs[i - 1]
        if gaps[i - 1] * gaps[i] < 0:
            t = gaps[i - 1] / (gaps[i - 1] - gaps[i])
            return math.exp(math.log(xs[i - 1]) + t * (math.log(xs[i]) - math.log(xs[i - 1])))
    return None


def plot_demonstration_sweep(lines: dict[str, list[tuple[float, dict]]], out: Path) -> str:
    """``lines``: per method, (number of demonstrations, {"value", "ci"}) in increasing number. Writes
    demonstration_sweep.png/.pdf into ``out``; returns a line saying where (and whether) the first two cross."""
    out.mkdir(parents=True, exist_ok=True)
    with plt.rc_context(RC):
        fig, ax = plt.subplots(figsize=(WIDTH / 2, WIDTH / 2.6))
        for label, points in lines.items():
            xs = [x for x, _ in points]
            entries = [{"value": e["value"], "lo": e["ci"][0], "hi": e["ci"][1]} for _, e in points]
            _band(ax, xs, entries, label=label, marker="o", markersize=3)
        names = list(lines)
        xs = [x for x, _ in lines[names[0]]]
        cross = crossover(xs, *([e["value"] for _, e in lines[n]] for n in names[:2])) if len(names) > 1 else None
        if cross is not None:
            ax.axvline(cross, color="0.5", linestyle=":", linewidth=1)
            ax.annotate("crossover", (cross, ax.get_ylim()[1]), ha="center", va="top", fontsize=7, color="0.4")
        ax.set_xscale("log", base=2)
        ax.set_xticks(xs, [str(int(x)) for x in xs])
        ax.set_xlabel("expert demonstrations")
        ax.set_ylabel("held-out pass@1")
        ax.legend(frameon=False)
        paths = save(fig, out, "demonstration_sweep")
    where = f"the {names[0]} and {names[1]} lines cross near {cross:.0f}" if cross else "the lines do not cross"
    return f"figure: {paths[0]} ({where})"
