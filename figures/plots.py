"""Matplotlib figures, sized for a 6.5in-wide paper column with fonts no smaller than 8pt."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Optional, Sequence

import matplotlib

matplotlib.use("Agg")  # headless: the figures are built on servers without a display
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.colors import Normalize  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402

from figures.tables import metric_entry, pair_trace, rerank_n, step_token_spans  # noqa: E402
from reasoning_irl.evaluation.diagnostics import mann_whitney  # noqa: E402

WIDTH = 6.5  # inches: a full-width figure in a single-column paper
RC = {"font.size": 8, "axes.titlesize": 8, "axes.labelsize": 8, "legend.fontsize": 8,
      "xtick.labelsize": 8, "ytick.labelsize": 8, "figure.titlesize": 9,
      "pdf.fonttype": 42,  # TrueType in the PDF so venues' font checks pass and text stays selectable
      "savefig.dpi": 200, "axes.spines.top": False, "axes.spines.right": False}
CMAP = "RdBu"  # diverging: red = negative reward, blue = positive, white = 0
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
                    _band(ax, ks, [p["success"][sel][(k, n)] for k in ks], marker="o", markersize=3,
                          color=colours[sel], label=sel)
            ks = sorted(k for (k, nn) in p["random"] if nn == n)
            if ks:
                _band(ax, ks, [p["random"][(k, n)] for k in ks], color="0.3", linestyle="--", marker="s",
                      markersize=3, label="random")
            if n in p["oracle"]:
                ax.axhline(p["oracle"][n]["value"], color="k", linestyle=":", linewidth=1, label="oracle")
            _k_axis(ax, sorted(ks_all | set(ks)))
            ax.set_title(f"{label} (N={n})")
            ax.set_xlabel("k (kept of N)")
            ax.grid(alpha=0.3)
        for ax in axes[:, 0]:
            ax.set_ylabel("success rate")
        for ax in list(axes.flat)[len(methods):]:
            ax.set_visible(False)
        # One shared legend below the panels so no panel's curves are hidden behind it.
        handles: dict = {}
        for ax in axes.flat:
            for h, lab in zip(*ax.get_legend_handles_labels()):
                handles.setdefault(lab, h)
        ncol = len(handles) if len(handles) <= 7 else math.ceil(len(handles) / 2)
        fig.legend(list(handles.values()), list(handles), loc="lower center", ncol=ncol,
                   frameon=False, bbox_to_anchor=(0.5, 0.0))
        fig.tight_layout(rect=(0, 0.12 / nrows, 1, 1))
        return save(fig, out, "rerank")


def _scored(rows: list[dict]) -> list[dict]:
    """Sampled (non-greedy) rows with selector scores: the pool the reranker chooses from."""
    sampled = [r for r in rows if isinstance(r.get("scores"), dict) and not r.get("greedy")]
    return sampled or [r for r in rows if isinstance(r.get("scores"), dict)]


def _p_text(p: float) -> str:
    return "p<1e-300" if p == 0 else f"p={p:.1g}"  # erfc underflows to 0 for huge samples


def reward_distributions(methods: list[tuple[str, list[dict]]], out: Path) -> list[Path]:
    """One panel per selector; per method a correct and a wrong violin, AUROC and p below it.

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
                pairs = [(float(r["scores"][sel]), bool(r.get("correct"))) for r in rows
                         if isinstance(r["scores"].get(sel), (int, float)) and math.isfinite(r["scores"][sel])]
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
                _, auroc, p = mann_whitney(good, bad)
                stat = f"AUC {auroc:.2f}\n{_p_text(p)}" if math.isfinite(auroc) else "one class\nonly"
                ticks.append(f"{label}\n{stat}")
            ax.set_xticks(range(len(methods)))
            ax.set_xticklabels(ticks)
            ax.set_ylabel(f"score ({sel})")
            ax.set_title(f"selector: {sel}")
            ax.grid(axis="y", alpha=0.3)
        for ax in list(axes.flat)[len(selectors):]:
            ax.set_visible(False)
        fig.legend(handles=[Rectangle((0, 0), 1, 1, color=CORRECT, alpha=0.6),
                            Rectangle((0, 0), 1, 1, color=WRONG, alpha=0.6)],
                   labels=["correct", "wrong"], loc="lower center", ncol=2, frameon=False)
        fig.suptitle("Correct vs wrong samples: AUC = AUROC (Mann-Whitney U / pairs), two-sided p",
                     x=0.02, ha="left")
        fig.tight_layout(rect=(0, 0.3 / (2.1 * nrows + 0.5), 1, 1))  # room for the legend below
        return save(fig, out, "reward_distributions")


def token_label(token: str, width: int = 10) -> str:
    """Make a token visible as a tick label: whitespace shown, '$' kept out of mathtext."""
    text = token.replace("\n", "\\n").replace("\t", "\\t").replace(" ", "·")
    text = text if len(text) <= width else text[: width - 1] + "…"
    return text.replace("$", r"\$") or "∅"


def _window(n: int, width: int, end: Optional[int]) -> tuple[int, int]:
    """``width`` tokens ending at ``end`` (e.g. just past the answer), clipped to [0, n)."""
    stop = min(n, max(width, end if end is not None else n))
    return max(0, stop - width), stop


def _heat_row(ax, tokens, rewards, a, b, norm, title, boxes=()):
    ax.imshow(np.asarray(rewards[a:b], float)[None, :], cmap=CMAP, norm=norm, aspect="auto",
              extent=(a - 0.5, b - 0.5, 0.5, -0.5))
    ax.set_xticks(range(a, b))
    ax.set_xticklabels([token_label(t) for t in tokens[a:b]], rotation=90, fontsize=8)
    ax.set_yticks([])
    ax.set_title(title, loc="left")
    for (s, e, style) in boxes:
        s, e = max(s, a), min(e, b)
        if e > s:  # outline a span (answer, corrupted step) so it survives greyscale printing
            ax.add_patch(Rectangle((s - 0.5, -0.5), e - s, 1, fill=False, edgecolor="k", linewidth=1.6,
                                   linestyle=style))


def _sym_norm(values: list[float]) -> Normalize:
    # Symmetric limits centre the diverging map at 0; the 98th percentile keeps one outlier
    # token from washing every other cell out to white.
    mag = float(np.percentile(np.abs(values), 98)) if values else 1.0
    return Normalize(-(mag or 1.0), mag or 1.0)


def token_heatmaps(label: str, rows: list[dict], out: Path, n_each: int = 3, width: int = 40) -> list[Path]:
    usable = [r for r in rows if isinstance(r.get("token_rewards"), list) and isinstance(r.get("tokens"), list)
              and len(r["tokens"]) == len(r["token_rewards"]) and r["tokens"]]
    # Distinct problems first, so the figure is not several samples of one question.
    picked: list[dict] = []
    for want in (True, False):
        pool = [r for r in usable if bool(r.get("correct")) == want]
        seen: set = set()
        chosen = [r for r in pool if not (r.get("problem_id") in seen or seen.add(r.get("problem_id")))][:n_each]
        chosen += [r for r in pool if r not in chosen][: n_each - len(chosen)]
        picked += chosen
    if not picked:
        print("note: no sample has token_rewards; skipping token_heatmaps")
        return []
    spans = []
    for r in picked:
        span = r.get("answer_span")
        # answer_span is a token index range here; anything outside the sequence is ignored.
        ok = isinstance(span, list) and len(span) == 2 and 0 <= span[0] < span[1] <= len(r["tokens"])
        spans.append(tuple(span) if ok else None)
    windows = [_window(len(r["tokens"]), width, s[1] + 2 if s else None) for r, s in zip(picked, spans)]
    norm = _sym_norm([v for r, (a, b) in zip(picked, windows) for v in r["token_rewards"][a:b]])
    with plt.rc_context(RC):
        fig, axes = plt.subplots(len(picked), 1, figsize=(WIDTH, 1.25 * len(picked) + 0.3), squeeze=False)
        for ax, r, (a, b), span in zip(axes[:, 0], picked, windows, spans):
            verdict = "correct" if r.get("correct") else "wrong"
            which = "greedy" if r.get("greedy") or r.get("sample_index") == -1 else f"sample {r.get('sample_index')}"
            title = (f"{label} · {r.get('problem_id')} · {which} · {verdict} · "
                     f"answer {token_label(str(r.get('extracted_answer')), 16)} · tokens {a}–{b} of {len(r['tokens'])}")
            _heat_row(ax, r["tokens"], r["token_rewards"], a, b, norm, title,
                      [(span[0], span[1], "-")] if span else [])
        fig.tight_layout(rect=(0, 0, 0.92, 1))
        cax = fig.add_axes((0.935, 0.15, 0.015, 0.7))
        fig.colorbar(plt.cm.ScalarMappable(norm=norm, cmap=CMAP), cax=cax, label="token reward")
        return save(fig, out, "token_heatmaps")


def irl_trace_heatmap(traces: list[dict], out: Path, width: int = 40) -> list[Path]:
    pair = pair_trace(traces)
    if pair is None:
        print("note: irl_traces.jsonl has no perturbed trace with a first_step and an expert; skipping irl_trace")
        return []
    expert, bad = pair
    fs = bad["first_step"]
    bad_tok = step_token_spans(bad["tokens"], bad["steps"])
    exp_tok = step_token_spans(expert["tokens"], expert.get("steps") or [])
    s, e = bad_tok[fs]
    a = max(0, s - width // 3)  # some clean context before the corruption, most of the window after it
    windows = [(a, min(len(t["tokens"]), a + width)) for t in (expert, bad)]
    norm = _sym_norm([v for t, (x, y) in zip((expert, bad), windows) for v in t["token_rewards"][x:y]])
    has_steps = bool(bad.get("step_rewards")) and bool(expert.get("step_rewards"))
    with plt.rc_context(RC):
        fig, axes = plt.subplots(3 if has_steps else 2, 1, figsize=(WIDTH, 4.6 if has_steps else 3.0),
                                 gridspec_kw={"height_ratios": [1, 1, 1.4][: 3 if has_steps else 2]})
        boxes_exp = [(exp_tok[fs][0], exp_tok[fs][1], "--")] if fs < len(exp_tok) else []
        _heat_row(axes[1], bad["tokens"], bad["token_rewards"], *windows[1], norm,
                  f"perturbed: {bad.get('kind')} ({bad.get('id')}) · corrupted step {fs} outlined", [(s, e, "-")])
        _heat_row(axes[0], expert["tokens"], expert["token_rewards"], *windows[0], norm,
                  f"expert ({expert.get('id')}) · step {fs} dashed", boxes_exp)
        if has_steps:
            ax = axes[2]
            for t, name, style in ((expert, "expert", "o-"), (bad, str(bad.get("kind")), "s--")):
                ax.plot(range(len(t["step_rewards"])), t["step_rewards"], style, markersize=3, label=name)
            ax.axvspan(fs - 0.5, fs + 0.5, color="0.85", label="corrupted step")
            ax.axhline(0, color="0.5", linewidth=0.6)
            n_steps = max(len(expert["step_rewards"]), len(bad["step_rewards"]))
            ax.set_xticks(range(n_steps))  # steps are whole numbers
            ax.set_xlabel("reasoning step")
            ax.set_ylabel("step reward")
            # Above the axes: inside it would cover the curves it explains.
            ax.legend(frameon=False, ncol=3, loc="lower left", bbox_to_anchor=(0, 1.0))
        fig.tight_layout(rect=(0, 0, 0.92, 1))
        cax = fig.add_axes((0.935, 0.55 if has_steps else 0.15, 0.015, 0.35 if has_steps else 0.7))
        fig.colorbar(plt.cm.ScalarMappable(norm=norm, cmap=CMAP), cax=cax, label="token reward")
        return save(fig, out, "irl_trace")


def irl_per_kind(diag: dict, out: Path) -> list[Path]:
    """Grouped bars of the per-kind rate metrics (accuracies, AUROCs) the evaluator wrote.

    Only metrics whose values all lie in [0, 1] are drawn: counts such as ``n`` would squash
    the rates on a shared axis (they stay in the irl_diagnostics table).
    """
    per_kind = diag.get("per_kind") if isinstance(diag, dict) else None
    if not isinstance(per_kind, dict) or not per_kind:
        return []
    values: dict[str, dict[str, float]] = {}
    for kind, metrics in per_kind.items():
        if isinstance(metrics, dict):
            for name, raw in metrics.items():
                entry = metric_entry(raw) if not isinstance(raw, bool) else None
                if entry is not None:
                    values.setdefault(name, {})[kind] = entry["value"]
    names = [m for m, v in values.items() if all(0.0 <= x <= 1.0 for x in v.values())]
    kinds = [k for k in per_kind if any(k in values[m] for m in names)]
    if not kinds or not names:
        print("note: irl_diagnostics.json per_kind has no rate metrics; skipping irl_per_kind")
        return []
    with plt.rc_context(RC):
        fig, ax = plt.subplots(figsize=(WIDTH, 2.6))
        width = 0.8 / len(names)
        for j, m in enumerate(names):
            ax.bar(np.arange(len(kinds)) + (j - (len(names) - 1) / 2) * width,
                   [values[m].get(k, np.nan) for k in kinds], width, label=m)
        ax.set_xticks(range(len(kinds)))
        ax.set_xticklabels(kinds, rotation=20, ha="right")
        ax.set_ylim(0, 1.05)
        ax.set_ylabel("value")
        ax.set_title("Reward-model diagnostics per perturbation kind")
        ax.legend(frameon=False, loc="upper left", bbox_to_anchor=(1.01, 1.0))  # beside, not over, the bars
        fig.tight_layout()
        return save(fig, out, "irl_per_kind")
