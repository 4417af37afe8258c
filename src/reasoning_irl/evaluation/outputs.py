"""Evaluation output files by name, and the markdown table of a summary (the files are written through
:mod:`reasoning_irl.runs`)."""

from __future__ import annotations

import math
from typing import Optional

from reasoning_irl.evaluation.metrics import metric_order

RESULTS_FILE = "eval_results.jsonl"
SUMMARY_FILE = "eval_summary.json"
TABLE_FILE = "eval_table.md"
IRL_JSON = "irl_diagnostics.json"
IRL_TABLE = "irl_diagnostics.md"
IRL_TRACES = "irl_traces.jsonl"


def fmt(x: Optional[float], digits: int = 3) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "n/a"
    return f"{x:.{digits}f}"


def metrics_table(metrics: dict[str, dict], title: str = "") -> str:
    """``| metric | value | 95% CI | n |`` rows of a summarize() output."""
    lines = [f"# {title}", ""] if title else []
    lines += ["| metric | value | 95% CI | n |", "|---|---|---|---|"]
    for name in sorted(metrics, key=metric_order):
        m = metrics[name]
        lo, hi = (m.get("ci") or [None, None])[:2]
        cell = name.replace("|", "\\|")  # success@1|8 would otherwise split the markdown row
        lines.append(f"| {cell} | {fmt(m.get('value'))} | [{fmt(lo)}, {fmt(hi)}] | {m.get('n', '')} |")
    return "\n".join(lines) + "\n"
