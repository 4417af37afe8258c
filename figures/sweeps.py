"""Held-out pass@1 against a swept setting (the number of expert demonstrations, their error rate, ...), one line per
method with its CI band, and where the first two lines cross (runner_scripts/sweep_report.py draws one per sweep of
runner_scripts/demo_sweeps.sh)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Optional

from figures.plots import RC, WIDTH, _band, plt, save


def crossover(xs: list[float], first: list[float], second: list[float], log: bool = True) -> Optional[float]:
    """The x (interpolated on a log axis, or a linear one) where ``second - first`` first changes sign, or None."""
    gaps = [b - a for a, b in zip(first, second)]
    scale, unscale = (math.log, math.exp) if log else (float, float)
    for i in range(1, len(gaps)):
        if gaps[i - 1] == 0:
            return xs[i - 1]
        if gaps[i - 1] * gaps[i] < 0:
            t = gaps[i - 1] / (gaps[i - 1] - gaps[i])
            return unscale(scale(xs[i - 1]) + t * (scale(xs[i]) - scale(xs[i - 1])))
    return None


def plot_sweep(
    lines: dict[str, list[tuple[float, dict]]],
    out: Path,
    stem: str,
    xlabel: str,
    log: bool = True,
    tick_labels: Optional[list[str]] = None,
    reference: Optional[tuple[str, dict]] = None,
    cross: Optional[tuple[str, str]] = ("SFT", "AIRL"),
) -> str:
    """``lines``: per method, (the setting's x, {"value", "ci"}) in increasing x. Writes <stem>.png/.pdf into ``out``
    (x on a log axis unless ``log`` is false; ``tick_labels`` name the settings); returns a line saying where (and
    whether) the two lines named in ``cross`` cross (None: nothing to cross). A ``reference`` (label, level), a
    method run once, is drawn as a dashed line with its band."""
    out.mkdir(parents=True, exist_ok=True)
    names = list(lines)
    xs = [x for x, _ in lines[names[0]]]
    with plt.rc_context(RC):
        fig, ax = plt.subplots(figsize=(WIDTH / 2, WIDTH / 2.6))
        for label, points in lines.items():
            entries = [{"value": e["value"], "lo": e["ci"][0], "hi": e["ci"][1]} for _, e in points]
            _band(ax, [x for x, _ in points], entries, label=label, marker="o", markersize=3)
        if reference is not None:
            label, level = reference
            ax.axhline(level["value"], color="0.3", linestyle="--", linewidth=1, label=label)
            ax.axhspan(*level["ci"], color="0.5", alpha=0.12, linewidth=0)
        pair = cross is not None and all(n in lines for n in cross)
        where = crossover(xs, *([e["value"] for _, e in lines[n]] for n in cross), log=log) if pair else None
        if where is not None:
            ax.axvline(where, color="0.5", linestyle=":", linewidth=1)
            ax.annotate("crossover", (where, ax.get_ylim()[1]), ha="center", va="top", fontsize=7, color="0.4")
        if log:
            ax.set_xscale("log")
        ax.set_xticks(xs, tick_labels or [f"{x:g}" for x in xs])
        ax.minorticks_off()
        ax.set_xlabel(xlabel)
        ax.set_ylabel("held-out pass@1")
        ax.legend(frameon=False, loc="upper center", bbox_to_anchor=(0.5, -0.22), ncol=3)  # below: off the bands
        paths = save(fig, out, stem)
    if not pair:
        return f"figure: {paths[0]}"
    said = f"near {where:.3g}" if where is not None else "nowhere"
    return f"figure: {paths[0]} (the {cross[0]} and {cross[1]} lines cross {said})"


def plot_longer(levels: dict[str, dict[str, dict]], out: Path, stem: str = "longer_sweep") -> str:
    """``levels``: per problem set (e.g. the training length, one step longer), per method, {"value", "ci"}: grouped
    bars with their CIs. Writes <stem>.png/.pdf into ``out``; returns the line naming the figure."""
    out.mkdir(parents=True, exist_ok=True)
    sets = list(levels)
    methods = list(levels[sets[0]])
    width = 0.8 / len(sets)
    with plt.rc_context(RC):
        fig, ax = plt.subplots(figsize=(WIDTH / 2, WIDTH / 2.6))
        for i, name in enumerate(sets):
            entries = [levels[name][m] for m in methods]
            xs = [j + (i - (len(sets) - 1) / 2) * width for j in range(len(methods))]
            values = [e["value"] for e in entries]
            errors = [
                [v - e["ci"][0] for v, e in zip(values, entries)],
                [e["ci"][1] - v for v, e in zip(values, entries)],
            ]
            ax.bar(xs, values, width, yerr=errors, capsize=2, label=name)
        ax.set_xticks(range(len(methods)), methods)
        ax.set_ylabel("held-out pass@1")
        ax.legend(frameon=False, loc="upper center", bbox_to_anchor=(0.5, -0.15), ncol=len(sets))
        paths = save(fig, out, stem)
    return f"figure: {paths[0]}"
