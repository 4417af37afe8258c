"""Writing and reading evaluation outputs (JSON lines, JSON summaries, markdown tables).

NaN/inf floats are written as JSON ``null`` (strict JSON, readable by any tool).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Iterable, Optional

from reasoning_irl.config import ConfigError
from reasoning_irl.training.run_dir import atomic_write_text

RESULTS_FILE = "eval_results.jsonl"
SUMMARY_FILE = "eval_summary.json"
TABLE_FILE = "eval_table.md"
IRL_JSON = "irl_diagnostics.json"
IRL_TABLE = "irl_diagnostics.md"
IRL_TRACES = "irl_traces.jsonl"


def json_safe(value: Any) -> Any:
    """Replace non-finite floats by None, recursively (tuples become lists)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def write_jsonl(path: Path, rows: Iterable[dict]) -> None:
    atomic_write_text(path, "".join(json.dumps(json_safe(r), ensure_ascii=False) + "\n" for r in rows))


def read_jsonl(path: str | Path, where: str = "file") -> list[dict]:
    p = Path(path).expanduser()
    if not p.is_file():
        raise ConfigError(f"{where}: {path} does not exist")
    rows = []
    for n, line in enumerate(p.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except ValueError:
            raise ConfigError(f"{where}: {path} line {n} is not JSON") from None
    return rows


def write_json(path: Path, data: Any) -> None:
    atomic_write_text(path, json.dumps(json_safe(data), indent=2, ensure_ascii=False) + "\n")


def fmt(x: Optional[float], digits: int = 3) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "n/a"
    return f"{x:.{digits}f}"


def metric_order(name: str) -> tuple:
    """greedy, then the sampling metrics by k, then oracle, then the selector metrics."""
    head = name.split("/")[0]
    family = ["greedy_accuracy", "pass", "maj", "random", "oracle", "success", "weighted_vote"]
    base = head.split("@")[0]
    rank = family.index(base) if base in family else len(family)
    digits = "".join(c if c.isdigit() else " " for c in head.split("|")[0]).split()
    return ("/" in name, name.split("/")[1] if "/" in name else "", rank, int(digits[0]) if digits else 0, name)


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
