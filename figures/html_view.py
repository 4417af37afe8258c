"""A single self-contained HTML page for browsing samples with per-token reward colouring.

No scripts, fonts or images are loaded from anywhere: the page must open from a results
folder copied off a cluster. All model text goes through ``html.escape`` because completions
contain markup-like tokens (``<think>``) that a browser would otherwise swallow.
"""

from __future__ import annotations

import html
import math
from pathlib import Path
from typing import Optional

import numpy as np
from matplotlib import colormaps

from figures.tables import step_token_spans
from figures.token_plots import CMAP, centred  # the same colours as the figures, so colours mean one thing

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:1.5em;color:#222;max-width:75em}
h1{font-size:1.4em}h2{font-size:1.1em;margin:0}h3{font-size:1em;margin:.8em 0 .3em}
details.problem{border:1px solid #ccc;border-radius:6px;margin:.6em 0;padding:.4em .8em}
summary{cursor:pointer;font-weight:600}
.sample{border-left:3px solid #ddd;margin:.5em 0;padding:.2em .6em}
.meta{font-size:.85em;color:#555;margin-bottom:.2em}
.badge{display:inline-block;padding:0 .45em;border-radius:3px;font-size:.8em;font-weight:700;color:#fff}
.ok{background:#1b9e77}.bad{background:#d95f02}.greedy{background:#666}
.toks{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:.85em;white-space:pre-wrap;
  word-break:break-word;line-height:1.6}
.tok,.ttok{border-radius:2px}
.tok:hover,.ttok:hover{outline:1px solid #000}
.ans{text-decoration:underline;text-decoration-thickness:2px}
.bad-step{outline:2px solid #000}
.q{white-space:pre-wrap;margin:.3em 0}
.legend{display:flex;align-items:center;gap:.5em;font-size:.85em;margin:.5em 0 1em}
.bar{width:16em;height:1em;border:1px solid #999}
table{border-collapse:collapse;font-size:.85em}td,th{border:1px solid #ccc;padding:.15em .5em;text-align:right}
th:first-child,td:first-child{text-align:left}
"""


def _median(values: Optional[list]) -> float:
    finite = [float(v) for v in values or [] if isinstance(v, (int, float)) and math.isfinite(v)]
    return float(np.median(finite)) if finite else 0.0


class Scale:
    """Centred reward (reward minus its sequence's median) -> background colour, a diverging map around 0."""

    def __init__(self, values: list[float]):
        finite = np.abs(np.asarray([v for v in values if math.isfinite(v)], float))
        # The 98th percentile, not the max: one extreme token should not blank all others.
        self.mag = float(np.percentile(finite, 98)) if finite.size else 1.0
        self.mag = self.mag or 1.0
        self.cmap = colormaps[CMAP]

    def rgb(self, value: float) -> tuple[int, int, int]:
        t = 0.5 + 0.5 * max(-1.0, min(1.0, value / self.mag))
        r, g, b, _ = self.cmap(t)
        return int(r * 255), int(g * 255), int(b * 255)

    BINS = 41  # odd, so zero gets its own (white) bin

    def bin(self, value: float) -> int:
        t = 0.5 + 0.5 * max(-1.0, min(1.0, value / self.mag))
        return int(round(t * (self.BINS - 1)))

    def css(self) -> str:
        """One class per colour bin: a class name per token instead of an inline style keeps
        pages of hundreds of thousands of tokens a few MB (the tooltip keeps the exact value)."""
        rules = []
        for i in range(self.BINS):
            r, g, b = self.rgb((2 * i / (self.BINS - 1) - 1) * self.mag)
            # Dark cells get white text so the token stays readable at the ends of the scale.
            fg = "#fff" if 0.299 * r + 0.587 * g + 0.114 * b < 120 else "#000"
            rules.append(f".r{i}{{background:rgb({r},{g},{b});color:{fg}}}")
        return "\n".join(rules)

    def legend(self) -> str:
        stops = ",".join("rgb({},{},{})".format(*self.rgb(v)) for v in np.linspace(-self.mag, self.mag, 9))
        return (
            f'<div class="legend"><span>{-self.mag:+.3g}</span><div class="bar" '
            f'style="background:linear-gradient(to right,{stops})"></div><span>{self.mag:+.3g}</span>'
            "<span>token reward minus its sequence's median (AIRL rewards have an arbitrary offset; red below,"
            " blue above; clipped at the 98th percentile; hover a token for its raw value and index)</span></div>"
        )


def _tokens_html(
    tokens: list[str],
    rewards: Optional[list],
    scale: Scale,
    cls: str,
    marked: Optional[tuple[int, int]] = None,
    mark_cls: str = "ans",
    centre: float = 0.0,
) -> str:
    """One ``<span>`` per token, coloured by its reward minus ``centre``, with the raw value in a tooltip."""
    parts = []
    for i, tok in enumerate(tokens):
        val = rewards[i] if rewards is not None and i < len(rewards) else None
        val = float(val) if isinstance(val, (int, float)) else None
        ok = val is not None and math.isfinite(val)
        tip = f"{val:+.4f} · #{i}" if ok else f"no reward · #{i}"
        extra = (f" r{scale.bin(val - centre)}" if ok else "") + (
            f" {mark_cls}" if marked and marked[0] <= i < marked[1] else ""
        )
        parts.append(f'<span class="{cls}{extra}" title="{tip}">{html.escape(str(tok))}</span>')
    return "".join(parts)


def _sample_html(row: dict, scale: Scale) -> str:
    ok = bool(row.get("correct"))
    badges = [f'<span class="badge {"ok" if ok else "bad"}">{"✓ correct" if ok else "✗ wrong"}</span>']
    greedy = bool(row.get("greedy") or row.get("sample_index") == -1)
    if greedy:
        badges.append('<span class="badge greedy">greedy</span>')
    meta = [
        "greedy" if greedy else f"sample {html.escape(str(row.get('sample_index')))}",
        f"answer: <code>{html.escape(str(row.get('extracted_answer')))}</code>",
    ]
    scores = row.get("scores")
    if isinstance(scores, dict) and scores:
        meta.append(
            "scores: "
            + ", ".join(
                f"{html.escape(str(k))}={v:+.3f}" if isinstance(v, (int, float)) else f"{html.escape(str(k))}=?"
                for k, v in scores.items()
            )
        )
    tokens, rewards = row.get("tokens"), row.get("token_rewards")
    if isinstance(tokens, list):
        span = row.get("answer_span")
        span = tuple(span) if isinstance(span, list) and len(span) == 2 else None
        rewards = rewards if isinstance(rewards, list) else None
        body = _tokens_html(tokens, rewards, scale, "tok", span, centre=_median(rewards))
    else:  # no tokenisation stored: still show the text, uncoloured
        body = html.escape(str(row.get("completion", "")))
    return (
        f'<div class="sample">{" ".join(badges)} <span class="meta">{" · ".join(meta)}</span>'
        f'<div class="toks">{body}</div></div>'
    )


def _trace_section(traces: list[dict], scale: Scale, max_problems: int) -> str:
    """Reward-model traces of the first ``max_problems`` problems, one collapsed section each: the expert and
    its perturbed copies, the first corrupted step outlined, all coloured around the expert's median."""
    by_id: dict[str, list[dict]] = {}
    for t in traces:
        if isinstance(t.get("tokens"), list):
            by_id.setdefault(str(t.get("id")), []).append(t)
    parts = ["<h2>Reward-model traces (irl_traces.jsonl)</h2>"]
    if len(by_id) > max_problems:
        parts.append(f"<p>Showing the first {max_problems} of {len(by_id)} problems.</p>")
    for pid, group in list(by_id.items())[:max_problems]:
        expert = next((t for t in group if t.get("kind") == "expert"), group[0])
        centre = _median(expert.get("token_rewards"))
        head = [f'<details class="problem"><summary>{html.escape(pid)} — {len(group) - 1} perturbed</summary>']
        if expert.get("question") is not None:
            head.append(f'<div class="q"><b>Question:</b> {html.escape(str(expert["question"]))}</div>')
        for t in group:
            fs, steps, mark = t.get("first_step"), t.get("steps") or [], None
            if isinstance(fs, int) and 0 <= fs < len(steps):
                mark = step_token_spans(t["tokens"], steps)[fs]
            cls = "ok" if t.get("kind") == "expert" else "bad"
            note = f"corrupted step {fs} outlined" if mark else ""
            head.append(
                f'<div class="sample"><span class="badge {cls}">{html.escape(str(t.get("kind")))}</span> '
                f'<span class="meta">{note}</span><div class="toks">'
                f"{_tokens_html(t['tokens'], t.get('token_rewards'), scale, 'ttok', mark, 'bad-step', centre)}"
                "</div></div>"
            )
        parts.append("\n".join(head) + "</details>")
    return "\n".join(parts)


def write_html(
    methods: list[tuple[str, list[dict], dict]],
    out: Path,
    traces: Optional[list[dict]] = None,
    max_problems: int = 25,
    max_samples: int = 6,
) -> list[Path]:
    """``methods``: (label, eval rows, parsed metrics). Problems in first-seen order, capped."""
    methods = [(label, rows, parsed) for label, rows, parsed in methods if rows]
    if not methods and not traces:
        print("note: no eval_results.jsonl rows or traces; skipping tokens.html")
        return []

    def numbers(values: Optional[list]) -> list[float]:
        return [float(v) for v in values or [] if isinstance(v, (int, float))]

    values = [v for _, rows, _ in methods for r in rows for v in centred(numbers(r.get("token_rewards")))]
    experts = {str(t.get("id")): numbers(t.get("token_rewards")) for t in traces or [] if t.get("kind") == "expert"}
    values += [v for t in traces or [] for v in centred(numbers(t.get("token_rewards")), experts.get(str(t.get("id"))))]
    scale = Scale(values)
    order: list[str] = []
    by_key: dict[tuple[str, str], list[dict]] = {}
    for label, rows, _ in methods:
        for r in rows:
            pid = str(r.get("problem_id"))
            if pid not in by_key and pid not in order:
                order.append(pid)
            by_key.setdefault((label, pid), []).append(r)
    body = [f"<h1>Token rewards by method and problem</h1>{scale.legend()}"]
    ks = sorted({k for _, _, p in methods for k in p["pass"]})
    if ks:  # a small headline table so the page can be read without the markdown files
        head = "".join(f"<th>pass@{k}</th>" for k in ks)
        rows_html = "".join(
            f"<tr><td>{html.escape(label)}</td>"
            + "".join(f"<td>{p['pass'][k]['value']:.3f}</td>" if k in p["pass"] else "<td>–</td>" for k in ks)
            + "</tr>"
            for label, _, p in methods
        )
        body.append(f"<table><tr><th>method</th>{head}</tr>{rows_html}</table>")
    if len(order) > max_problems:
        body.append(f"<p>Showing the first {max_problems} of {len(order)} problems.</p>")
    for pid in order[:max_problems]:
        counts = []
        for label, _, _ in methods:
            rows = by_key.get((label, pid), [])
            sampled = [r for r in rows if not r.get("greedy")]
            counts.append(f"{html.escape(label)} {sum(bool(r.get('correct')) for r in sampled)}/{len(sampled)}")
        # Collapsed: a page of many problems is scanned by its summaries first.
        section = [
            f'<details class="problem"><summary>{html.escape(pid)} — correct samples: {", ".join(counts)}</summary>'
        ]
        first = next((r for label, _, _ in methods for r in by_key.get((label, pid), [])), {})
        if first.get("question") is not None:
            section.append(f'<div class="q"><b>Question:</b> {html.escape(str(first["question"]))}</div>')
        if first.get("gold") is not None:
            section.append(f'<div class="q"><b>Gold answer:</b> <code>{html.escape(str(first["gold"]))}</code></div>')
        for label, _, _ in methods:
            rows = sorted(by_key.get((label, pid), []), key=lambda r: (not r.get("greedy"), r.get("sample_index", 0)))
            if not rows:
                continue
            section.append(f"<h3>{html.escape(label)}</h3>")
            section += [_sample_html(r, scale) for r in rows[:max_samples]]
            if len(rows) > max_samples:
                section.append(f'<p class="meta">{len(rows) - max_samples} more samples not shown.</p>')
        body.append("\n".join(section) + "</details>")
    if traces:
        body.append(_trace_section(traces, scale, max_problems))
    page = (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>Token rewards</title><style>{_CSS}{scale.css()}</style></head><body>\n"
        + "\n".join(body)
        + "\n</body></html>\n"
    )
    path = out / "tokens.html"
    path.write_text(page, encoding="utf-8")
    return [path]
