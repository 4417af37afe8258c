"""Matplotlib figures, sized for a 6.5in-wide paper column with fonts no smaller than 8pt."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless: the figures are built on servers without a display
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402

from figures.paired import auroc_by_problem, gain_over_random  # noqa: E402
from figures.tables import metric_entry, rerank_n  # noqa: E402

WIDTH = 6.5  # inches: a full-width figure in a single-column paper
RC = {
    "font.size": 8,
    "axes.titlesize": 8,
    "axes.labelsize": 8,
    "legend.fontsize": 8,
    "xtick.labelsize": 8,
    "ytick.labelsize": 8,
    "figure.titlesize": 9,
    "pdf.fonttype": 42,  # TrueType in the PDF so venues' font checks pass and text stays selectable
    "savefig.dpi": 200,
    "axes.spines.top": False,
    "axes.spines.right": False,
}
CMAP = "RdBu"  # diverging: red = below the sequence's median reward, blue = above, white = the median
CORRECT, WRONG = "#1b9e77", "#d95f02"


def save(fig, out: Path, stem: str) -> list[Path]:
    paths = [out / f"{stem}.png", out / f"{stem}.pdf"]
    for path in paths:
        fig.savefig(path, bbox_inches="tight")
    plt.close(fig)
    return paths


def _band(ax, xs, entries, **style):
    """A line with a shaded CI band; a lone point gets an error bar since a band needs two x."""
    vals = np.array([e["value"] for e in entries])
    has_ci = all(e["lo"] is not None for e in entries)
    lo = np.array([e["lo"] if has_ci else e["value"] for e in entries])
    hi = np.array([e["hi"] if has_ci else e["value"] for e in entries])
    if len(xs) == 1:
        ax.errorbar(xs, vals, yerr=[vals - lo, hi - vals], capsize=3, **style)
        return
    (line,) = ax.plot(xs, vals, **style)
    if has_ci:
        ax.fill_between(xs, lo, hi, color=line.get_color(), alpha=0.18, linewidth=0)


def _k_axis(ax, ks: Sequence[int]) -> None:
    # Powers of two are the usual k grid; a log2 axis spaces them evenly.
    if len(ks) > 1 and max(ks) / min(ks) >= 4:
        ax.set_xscale("log", base=2)
    ax.set_xticks(list(ks))
    ax.set_xticklabels([str(k) for k in ks])
    ax.minorticks_off()


def pass_at_k(methods: list[tuple[str, dict]], out: Path) -> list[Path]:
    methods = [(label, p) for label, p in methods if p["pass"]]
    if not methods:
        print("note: no method reports pass@k; skipping pass_at_k figure")
        return []
    has_maj = any(p["maj"] for _, p in methods)
    with plt.rc_context(RC):
        fig, axes = plt.subplots(1, 2 if has_maj else 1, figsize=(WIDTH, 2.6), squeeze=False, sharey=True)
        for col, (family, name) in enumerate([("pass", "pass@k"), ("maj", "maj@k")][: 2 if has_maj else 1]):
            ax = axes[0, col]
            ks_all: set[int] = set()
            for i, (label, p) in enumerate(methods):
                ks = sorted(p[family])
                if ks:
                    ks_all.update(ks)
                    _band(ax, ks, [p[family][k] for k in ks], marker="o", markersize=3, label=label, color=f"C{i}")
            _k_axis(ax, sorted(ks_all))
            ax.set_xlabel("k (samples per problem)")
            ax.set_ylabel(name if col == 0 else "")
            ax.set_title(f"{name} (95% CI bands)")
            ax.grid(alpha=0.3)
        axes[0, 0].legend(loc="lower right", frameon=False)
        fig.tight_layout()
        return save(fig, out, "pass_at_k")


def rerank(methods: list[tuple[str, dict]], out: Path) -> list[Path]:
    methods = [(label, p) for label, p in methods if rerank_n(p) is not None]
    if not methods:
        print("note: no method reports success@k|N; skipping rerank figure")
        return []
    selectors: list[str] = []
    for _, p in methods:
        selectors += [s for s in p["success"] if s not in selectors]
    colours = {s: f"C{i}" for i, s in enumerate(selectors)}
    ncols = min(len(methods), 4)
    nrows = math.ceil(len(methods) / ncols)
    with plt.rc_context(RC):
        fig, axes = plt.subplots(nrows, ncols, figsize=(WIDTH, 2.3 * nrows + 0.5), squeeze=False, sharey=True)
        for ax, (label, p) in zip(axes.flat, methods):
            n = rerank_n(p)
            ks_all: set[int] = set()
            for sel in selectors:
                ks = sorted(k for (k, nn) in p["success"].get(sel, {}) if nn == n)
                ks_all.update(ks)
                if ks:
                    _band(
                        ax,
                        ks,
                        [p["success"][sel][(k, n)] for k in ks],
                        marker="o",
                        markersize=3,
                        color=colours[sel],
                        label=sel,
                    )
            ks = sorted(k for (k, nn) in p["random"] if nn == n)
            if ks:
                _band(
                    ax,
                    ks,
                    [p["random"][(k, n)] for k in ks],
                    color="0.3",
                    linestyle="--",
                    marker="s",
                    markersize=3,
                    label="random",
                )
            if n in p["oracle"]:
                ax.axhline(p["oracle"][n]["value"], color="k", linestyle=":", linewidth=1, label="oracle")
            _k_axis(ax, sorted(ks_all | set(ks)))
            ax.set_title(f"{label} (N={n})")
            ax.set_xlabel("k (kept of N)")
            ax.grid(alpha=0.3)
        for ax in axes[:, 0]:
            ax.set_ylabel("success rate")
        for ax in list(axes.flat)[len(methods) :]:
            ax.set_visible(False)
        # One shared legend below the panels so no panel's curves are hidden behind it.
        handles: dict = {}
        for ax in axes.flat:
            for h, lab in zip(*ax.get_legend_handles_labels()):
                handles.setdefault(lab, h)
        ncol = len(handles) if len(handles) <= 7 else math.ceil(len(handles) / 2)
        fig.legend(
            list(handles.values()),
            list(handles),
            loc="lower center",
            ncol=ncol,
            frameon=False,
            bbox_to_anchor=(0.5, 0.0),
        )
        fig.tight_layout(rect=(0, 0.12 / nrows, 1, 1))
        return save(fig, out, "rerank")


def _scored(rows: list[dict]) -> list[dict]:
    """Sampled (non-greedy) rows with selector scores: the pool the reranker chooses from."""
    sampled = [r for r in rows if isinstance(r.get("scores"), dict) and not r.get("greedy")]
    return sampled or [r for r in rows if isinstance(r.get("scores"), dict)]


def _p_text(p: float, n_resamples: int = 1000) -> str:
    return f"p<{1 / n_resamples:.0e}" if p <= 1 / n_resamples else f"p={p:.2g}"  # a bootstrap p has a floor


def reward_distributions(methods: list[tuple[str, list[dict]]], out: Path) -> list[Path]:
    """One panel per selector; per method a correct and a wrong violin, AUROC with its CI and p below it.

    The N samples of a problem are not independent draws, so the CI and p come from a bootstrap over
    problems (:func:`figures.paired.auroc_by_problem`), not from a rank test over samples.

    Methods side by side in one panel (rather than one panel per method x selector) keeps
    the figure a page tall at 4 methods x 5 selectors and compares methods on one axis.
    """
    methods = [(label, _scored(rows)) for label, rows in methods]
    methods = [(label, rows) for label, rows in methods if rows]
    if not methods:
        print("note: no eval_results.jsonl has reward-model scores; skipping reward_distributions")
        return []
    selectors: list[str] = []
    for _, rows in methods:
        for r in rows:
            selectors += [s for s in r["scores"] if s not in selectors]
    ncols = 1 if len(selectors) == 1 else 2
    nrows = math.ceil(len(selectors) / ncols)
    with plt.rc_context(RC):
        fig, axes = plt.subplots(nrows, ncols, figsize=(WIDTH, 2.1 * nrows + 0.5), squeeze=False)
        for ax, sel in zip(axes.flat, selectors):
            ticks = []
            for i, (label, rows) in enumerate(methods):
                kept = [
                    r
                    for r in rows
                    if isinstance(r["scores"].get(sel), (int, float)) and math.isfinite(r["scores"][sel])
                ]
                pairs = [(float(r["scores"][sel]), bool(r.get("correct"))) for r in kept]
                good = [v for v, c in pairs if c]
                bad = [v for v, c in pairs if not c]
                for vals, colour, dx in ((good, CORRECT, -0.2), (bad, WRONG, 0.2)):
                    if len(vals) > 1:
                        parts = ax.violinplot([vals], positions=[i + dx], widths=0.38, showmedians=True)
                        for body in parts["bodies"]:
                            body.set_facecolor(colour)
                            body.set_alpha(0.6)
                        for key in ("cbars", "cmins", "cmaxes", "cmedians"):
                            parts[key].set_color(colour)
                    elif vals:  # a violin needs two points
                        ax.plot([i + dx], vals, "o", color=colour, markersize=3)
                test = auroc_by_problem(
                    [v for v, _ in pairs], [c for _, c in pairs], [r.get("problem_id") for r in kept]
                )
                lo, hi = test["ci"]
                stat = (
                    f"AUC {test['auroc']:.2f} [{lo:.2f}, {hi:.2f}]\n{_p_text(test['p'])}"
                    if math.isfinite(test["auroc"])
                    else "one class\nonly"
                )
                ticks.append(f"{label}\n{stat}")
            ax.set_xticks(range(len(methods)))
            ax.set_xticklabels(ticks)
            ax.set_ylabel(f"score ({sel})")
            ax.set_title(f"selector: {sel}")
            ax.grid(axis="y", alpha=0.3)
        for ax in list(axes.flat)[len(selectors) :]:
            ax.set_visible(False)
        fig.legend(
            handles=[
                Rectangle((0, 0), 1, 1, color=CORRECT, alpha=0.6),
                Rectangle((0, 0), 1, 1, color=WRONG, alpha=0.6),
            ],
            labels=["correct", "wrong"],
            loc="lower center",
            ncol=2,
            frameon=False,
        )
        fig.suptitle(
            "Correct vs wrong samples: AUROC, 95% CI and two-sided p of AUROC = 0.5 by bootstrap over problems",
            x=0.02,
            ha="left",
        )
        fig.tight_layout(rect=(0, 0.3 / (2.1 * nrows + 0.5), 1, 1))  # room for the legend below
        return save(fig, out, "reward_distributions")


IRL_BARS = (("pairwise_accuracy", "pairwise acc."), ("token_auroc", "token AUROC"), ("localization", "localisation"))


def irl_per_kind(diag: dict, out: Path) -> list[Path]:
    """Per perturbation kind (and all kinds), the diagnostics evaluate_irl writes under ``by_kind``, with their
    CIs; the localisation bar carries ticks at its reward-free baselines (first step, uniform guess), the
    levels it has to beat."""
    by_kind = diag.get("by_kind") if isinstance(diag, dict) else None
    if not isinstance(by_kind, dict) or not by_kind:
        print("note: irl_diagnostics.json has no by_kind; skipping irl_per_kind")
        return []
    groups = [("all", diag)] + sorted((k, v) for k, v in by_kind.items() if isinstance(v, dict))
    with plt.rc_context(RC):
        fig, ax = plt.subplots(figsize=(WIDTH, 2.6))
        width = 0.8 / len(IRL_BARS)
        for j, (key, name) in enumerate(IRL_BARS):
            xs = np.arange(len(groups)) + (j - (len(IRL_BARS) - 1) / 2) * width
            entries = [metric_entry(d.get(key)) for _, d in groups]
            vals = [e["value"] if e else np.nan for e in entries]
            err = np.array(
                [[e["value"] - e["lo"], e["hi"] - e["value"]] if e and e["lo"] is not None else [0, 0] for e in entries]
            ).T
            ax.bar(xs, vals, width, yerr=err, capsize=2, label=name, color=f"C{j}")
            if key == "localization":
                for base, style in (("first_step", "k_"), ("uniform", "k.")):
                    ys = [metric_entry(((d.get(key) or {}).get("baselines") or {}).get(base)) for _, d in groups]
                    ax.plot(
                        xs,
                        [e["value"] if e else np.nan for e in ys],
                        style,
                        markersize=9,
                        label=f"localisation baseline: {base.replace('_', ' ')}",
                    )
        ax.axhline(0.5, color="0.6", linewidth=0.6, linestyle=":")  # chance for the pairwise and AUROC bars
        ax.set_xticks(range(len(groups)))
        ax.set_xticklabels([k for k, _ in groups], rotation=20, ha="right")
        ax.set_ylim(0, 1.05)
        ax.set_ylabel("value (95% CI over problems)")
        ax.set_title("Reward-model diagnostics per perturbation kind")
        ax.legend(frameon=False, loc="upper left", bbox_to_anchor=(1.01, 1.0))  # beside, not over, the bars
        fig.tight_layout()
        return save(fig, out, "irl_per_kind")


def rerank_gain(methods: list[tuple[str, list[dict]]], out: Path) -> list[Path]:
    """success@1 - random@1 per selector and method: what reranking N samples by the reward adds over picking
    one at random, with a paired bootstrap CI over problems (both terms on the same problems and samples)."""
    gains = [(label, gain_over_random(rows)) for label, rows in methods]
    gains = [(label, g) for label, g in gains if g]
    if not gains:
        print("note: no eval_results.jsonl has reward-model scores; skipping rerank_gain")
        return []
    selectors = list(dict.fromkeys(s for _, g in gains for s in g))
    with plt.rc_context(RC):
        fig, ax = plt.subplots(figsize=(WIDTH, 2.6))
        width = 0.8 / len(gains)
        for i, (label, g) in enumerate(gains):
            xs = np.arange(len(selectors)) + (i - (len(gains) - 1) / 2) * width
            vals = np.array([g[s]["value"] if s in g else np.nan for s in selectors])
            lo = np.array([g[s]["ci"][0] if s in g else np.nan for s in selectors])
            hi = np.array([g[s]["ci"][1] if s in g else np.nan for s in selectors])
            n = next(iter(g.values()))["N"]
            ax.bar(
                xs,
                vals,
                width,
                yerr=np.nan_to_num([vals - lo, hi - vals]),
                capsize=2,
                color=f"C{i}",
                label=f"{label} (N={n})",
            )
        ax.axhline(0, color="k", linewidth=0.8)
        ax.set_xticks(range(len(selectors)))
        ax.set_xticklabels(selectors)
        ax.set_ylabel("success@1 − random@1")
        ax.set_title("Gain of reward reranking over a random pick (paired 95% CI over problems)")
        ax.legend(frameon=False, loc="upper left", bbox_to_anchor=(1.01, 1.0))
        ax.grid(axis="y", alpha=0.3)
        fig.tight_layout()
        return save(fig, out, "rerank_gain")
