"""Token-level figures: each token of a solution coloured by its reward (policy samples; expert traces beside
their perturbed copies), in the style of :mod:`figures.plots`."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Optional

import numpy as np
from matplotlib.colors import Normalize
from matplotlib.patches import Rectangle

from figures.plots import CMAP, RC, WIDTH, plt, save
from figures.tables import pair_trace, step_token_spans


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
    ax.imshow(
        np.asarray(rewards[a:b], float)[None, :],
        cmap=CMAP,
        norm=norm,
        aspect="auto",
        extent=(a - 0.5, b - 0.5, 0.5, -0.5),
    )
    ax.set_xticks(range(a, b))
    ax.set_xticklabels([token_label(t) for t in tokens[a:b]], rotation=90, fontsize=8)
    ax.set_yticks([])
    ax.set_title(title, loc="left")
    for s, e, style in boxes:
        s, e = max(s, a), min(e, b)
        if e > s:  # outline a span (answer, corrupted step) so it survives greyscale printing
            ax.add_patch(
                Rectangle((s - 0.5, -0.5), e - s, 1, fill=False, edgecolor="k", linewidth=1.6, linestyle=style)
            )


def centred(rewards: Sequence[float], by: Optional[Sequence[float]] = None) -> list[float]:
    """Rewards minus the median of ``by`` (default: themselves). An AIRL reward is defined up to a constant
    offset, so colouring around 0 would paint a whole sequence one colour; around its median, the colours show
    which tokens the model scores above or below the rest."""
    ref = np.asarray(by if by is not None else rewards, dtype=np.float64)
    ref = ref[np.isfinite(ref)]
    mid = float(np.median(ref)) if ref.size else 0.0
    return [float(v) - mid for v in rewards]


def _sym_norm(values: list[float]) -> Normalize:
    # Symmetric limits centre the diverging map at 0; the 98th percentile keeps one outlier
    # token from washing every other cell out to white.
    mag = float(np.percentile(np.abs(values), 98)) if values else 1.0
    return Normalize(-(mag or 1.0), mag or 1.0)


def token_heatmaps(label: str, rows: list[dict], out: Path, n_each: int = 3, width: int = 40) -> list[Path]:
    usable = [
        r
        for r in rows
        if isinstance(r.get("token_rewards"), list)
        and isinstance(r.get("tokens"), list)
        and len(r["tokens"]) == len(r["token_rewards"])
        and r["tokens"]
    ]
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
    values = [centred(r["token_rewards"]) for r in picked]
    norm = _sym_norm([v for vals, (a, b) in zip(values, windows) for v in vals[a:b]])
    with plt.rc_context(RC):
        fig, axes = plt.subplots(len(picked), 1, figsize=(WIDTH, 1.25 * len(picked) + 0.3), squeeze=False)
        for ax, r, vals, (a, b), span in zip(axes[:, 0], picked, values, windows, spans):
            verdict = "correct" if r.get("correct") else "wrong"
            which = "greedy" if r.get("greedy") or r.get("sample_index") == -1 else f"sample {r.get('sample_index')}"
            title = (
                f"{label} · {r.get('problem_id')} · {which} · {verdict} · "
                f"answer {token_label(str(r.get('extracted_answer')), 16)} · tokens {a}–{b} of {len(r['tokens'])}"
            )
            _heat_row(ax, r["tokens"], vals, a, b, norm, title, [(span[0], span[1], "-")] if span else [])
        fig.tight_layout(rect=(0, 0, 0.92, 1))
        cax = fig.add_axes((0.935, 0.15, 0.015, 0.7))
        fig.colorbar(plt.cm.ScalarMappable(norm=norm, cmap=CMAP), cax=cax, label="token reward − sequence median")
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
    # Both around the EXPERT's median: one offset for the pair, so the corrupted tokens' drop stays visible.
    exp_vals, bad_vals = (centred(t["token_rewards"], expert["token_rewards"]) for t in (expert, bad))
    norm = _sym_norm([v for vals, (x, y) in zip((exp_vals, bad_vals), windows) for v in vals[x:y]])
    has_steps = bool(bad.get("step_rewards")) and bool(expert.get("step_rewards"))
    with plt.rc_context(RC):
        fig, axes = plt.subplots(
            3 if has_steps else 2,
            1,
            figsize=(WIDTH, 4.6 if has_steps else 3.0),
            gridspec_kw={"height_ratios": [1, 1, 1.4][: 3 if has_steps else 2]},
        )
        boxes_exp = [(exp_tok[fs][0], exp_tok[fs][1], "--")] if fs < len(exp_tok) else []
        _heat_row(
            axes[1],
            bad["tokens"],
            bad_vals,
            *windows[1],
            norm,
            f"perturbed: {bad.get('kind')} ({bad.get('id')}) · corrupted step {fs} outlined",
            [(s, e, "-")],
        )
        _heat_row(
            axes[0],
            expert["tokens"],
            exp_vals,
            *windows[0],
            norm,
            f"expert ({expert.get('id')}) · step {fs} dashed",
            boxes_exp,
        )
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
        fig.colorbar(plt.cm.ScalarMappable(norm=norm, cmap=CMAP), cax=cax, label="token reward − expert median")
        return save(fig, out, "irl_trace")
