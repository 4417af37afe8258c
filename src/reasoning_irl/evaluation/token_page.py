"""One self-contained HTML page of scored solutions: every token coloured by its reward, step rewards listed.

Nothing is loaded from anywhere (the page must open from a copied results folder), and all text goes through
``html.escape``: solutions contain markup-like tokens (``<think>``) a browser would otherwise swallow. The
figures' richer page (figures/html_view.py) lives outside the package and needs matplotlib; this one is for the
scoring command and needs neither.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from reasoning_irl.runs import atomic_write_text

_CSS = """body{font-family:system-ui,sans-serif;margin:1.5em;color:#222;max-width:75em}
.row{border:1px solid #ccc;border-radius:6px;margin:.6em 0;padding:.4em .8em}
.meta{font-size:.85em;color:#555}.toks{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:.85em;
white-space:pre-wrap;word-break:break-word;line-height:1.6}.toks span:hover{outline:1px solid #000}
table{border-collapse:collapse;font-size:.85em}td,th{border:1px solid #ccc;padding:.1em .4em;text-align:left}"""


def _scale(rows: Sequence[dict]) -> float:
    """98th percentile of |reward|: one extreme token should not wash out the colours of all others."""
    values = np.abs([v for r in rows for v in r["token_rewards"] if math.isfinite(v)])
    if not values.size:
        return 1.0
    return float(np.percentile(values, 98)) or 1.0


def _colour(value: float, mag: float) -> str:
    """White at 0, towards red below and blue above."""
    t = max(-1.0, min(1.0, value / mag)) if math.isfinite(value) else 0.0
    fade = int(round(255 * (1 - abs(t))))
    return f"rgb(255,{fade},{fade})" if t < 0 else f"rgb({fade},{fade},255)"


def _row_html(row: dict, mag: float) -> str:
    tokens = "".join(
        f'<span style="background:{_colour(v, mag)}" title="{v:+.4f} · #{i}">{html.escape(t)}</span>'
        for i, (t, v) in enumerate(zip(row["tokens"], row["token_rewards"]))
    )
    steps = "".join(
        f"<tr><td>{k}</td><td>{r:+.3f}</td><td>{html.escape(s)}</td></tr>"
        for k, (s, r) in enumerate(zip(row["steps"], row["step_rewards"]))
    )
    scores = ", ".join(f"{html.escape(k)}={v:+.3f}" for k, v in row["scores"].items())
    return (
        f'<div class="row"><div class="meta">line {row["line"]} · {scores}</div>'
        f'<p>{html.escape(str(row["question"]))}</p><div class="toks">{tokens}</div>'
        f"<table><tr><th>step</th><th>reward (sum)</th><th>text</th></tr>{steps}</table></div>"
    )


def write_token_page(rows: Sequence[dict], path: Path, title: str = "Token rewards") -> Path:
    """``rows``: the scoring command's output rows (tokens, token_rewards, steps, step_rewards, scores, line)."""
    mag = _scale(rows)
    legend = (
        f'<p class="meta">token reward: red &lt; 0 &lt; blue, full colour at |reward| &ge; {mag:.3g} '
        "(98th percentile); hover a token for its value and index</p>"
    )
    page = (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        f"<style>{_CSS}</style></head><body><h1>{html.escape(title)}</h1>{legend}\n"
        + "\n".join(_row_html(r, mag) for r in rows)
        + "\n</body></html>\n"
    )
    atomic_write_text(path, page)
    return path
