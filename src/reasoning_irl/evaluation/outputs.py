"""Evaluation output files by name, and the markdown table of a summary (the files are written through
:mod:`reasoning_irl.runs`)."""

from __future__ import annotations

import math
from typing import Any, Optional

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


def markdown_table(header: list[str], rows: list[list[Any]]) -> list[str]:
    """The lines of a markdown table. A "|" inside a cell (success@1|8) is escaped: it would split the cell."""

    def cell(value: Any) -> str:
        return str(value).replace("|", "\\|")

    lines = ["| " + " | ".join(map(cell, header)) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(map(cell, row)) + " |" for row in rows]


def metrics_table(metrics: dict[str, dict], title: str = "") -> str:
    """``| metric | value | 95% CI | n |`` rows of a summarize() output."""
    rows = []
    for name in sorted(metrics, key=metric_order):
        m = metrics[name]
        lo, hi = (m.get("ci") or [None, None])[:2]
        rows.append([name, fmt(m.get("value")), f"[{fmt(lo)}, {fmt(hi)}]", m.get("n", "")])
    lines = [f"# {title}", ""] if title else []
    return "\n".join(lines + markdown_table(["metric", "value", "95% CI", "n"], rows)) + "\n"
