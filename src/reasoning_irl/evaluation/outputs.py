"""Evaluation output files by name, the one writer of an evaluation's report (its rows, summary and table, each
written through :mod:`reasoning_irl.runs`), and the markdown table of a summary."""

from __future__ import annotations

import json
import logging
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from reasoning_irl.evaluation.metrics import metric_order
from reasoning_irl.runs import atomic_write_text, write_json, write_jsonl

log = logging.getLogger(__name__)

RESULTS_FILE = "eval_results.jsonl"
SUMMARY_FILE = "eval_summary.json"
TABLE_FILE = "eval_table.md"
IRL_JSON = "irl_diagnostics.json"
IRL_TABLE = "irl_diagnostics.md"
IRL_TRACES = "irl_traces.jsonl"


@dataclass(frozen=True)
class ReportFiles:
    """The three files of an evaluation's report, by name."""

    rows: str
    """One JSON line per scored completion or trace."""
    summary: str
    """Every number, with the config it came from."""
    table: str
    """The markdown table of the summary."""


EVAL_REPORT = ReportFiles(RESULTS_FILE, SUMMARY_FILE, TABLE_FILE)
IRL_REPORT = ReportFiles(IRL_TRACES, IRL_JSON, IRL_TABLE)


def write_report(out: Path, files: ReportFiles, rows: list[dict], summary: dict, table: str) -> Path:
    """Write an evaluation's report into ``out`` (each file in one atomic write); returns ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    write_jsonl(out / files.rows, rows)
    write_json(out / files.summary, summary)
    atomic_write_text(out / files.table, table)
    log.info("wrote %s", out)
    return out


def fmt(x: Optional[float], digits: int = 3) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "n/a"
    return f"{x:.{digits}f}"


def markdown_table(header: list[str], rows: list[list[Any]], right_from: Optional[int] = None) -> list[str]:
    """The lines of a markdown table (every results table of the project is drawn here). A "|" inside a cell
    (success@1|8) is escaped: it would split the cell. Columns from index ``right_from`` on are right-aligned."""

    def cell(value: Any) -> str:
        return str(value).replace("|", "\\|")

    align = ["---" if right_from is None or j < right_from else "---:" for j in range(len(header))]
    lines = ["| " + " | ".join(map(cell, header)) + " |", "|" + "|".join(align) + "|"]
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


def _headline_keys(metrics: dict[str, dict]) -> list[str]:
    """Greedy, pass@1, the largest k of pass/maj, and per selector success@1 beside random@1 and the oracle."""

    def largest(prefix: str) -> list[str]:
        ks = [int(m[len(prefix) :]) for m in metrics if re.fullmatch(re.escape(prefix) + r"\d+", m)]
        return [f"{prefix}{max(ks)}"] if ks else []

    keys = ["greedy_accuracy", "pass@1", *largest("pass@"), *largest("maj@")]
    keys += sorted((m for m in metrics if m.startswith("random@1|") or m.startswith("oracle@")), key=metric_order)
    keys += sorted((m for m in metrics if m.startswith("success@1|")), key=metric_order)
    return list(dict.fromkeys(k for k in keys if k in metrics))


def headline_table(metrics: dict[str, dict], title: str = "") -> str:
    """The few rows a reader looks at first (see :func:`_headline_keys`); every metric when none of them is
    present (e.g. the search comparison), since those summaries are short already."""
    keys = _headline_keys(metrics) or list(metrics)
    return metrics_table({k: metrics[k] for k in keys}, title)


def print_headline(out: Path) -> None:
    """Print the headline table of the summary in ``out``: the end of a long run should show its result, not
    only where it was written."""
    summary = json.loads((Path(out) / SUMMARY_FILE).read_text())
    title = (
        f"{summary.get('n_problems')} problems x {summary.get('n_samples')} samples "
        f"(all metrics: {Path(out) / TABLE_FILE})"
    )
    print(headline_table(summary.get("metrics") or {}, title), end="")
