"""One table for a sweep: per method and setting, the mean over seeds of every metric and its 95% t interval.

    python -m reasoning_irl.evaluation.aggregate <eval dir | eval_summary.json | glob> ... --out <dir>

Reads every ``eval_summary.json`` (written by evaluate.py) found under the given paths and writes
``sweep_table.md``, ``sweep_table.json`` and ``sweep_table.csv`` to ``--out``. For each summary:

- method: ``method.name`` of the training run whose checkpoint was evaluated (the ``config.yaml`` of the run
  folder holding the ``final/`` or ``checkpoint-N/`` adapter); ``base`` for a policy without an adapter; else the
  evaluation's own ``method.name``;
- seed: that training run's ``seed`` (else the evaluation's);
- setting: the evaluation's ``dataset/split`` and policy model, the swept overrides that name the run folder in a
  multirun (``<run_name>/<key=value,...>``) other than the seed, and ``reranked`` when a reward model scored it.

Two summaries of one method, setting and seed are an error (which one counts would be arbitrary).
The interval is mean +- t(0.975, n-1) * s / sqrt(n) over the seeds (s: sample standard deviation); none for n = 1.
"""

from __future__ import annotations

import argparse
import csv
import glob
import io
import json
import math
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import yaml

from reasoning_irl.config import ConfigError
from reasoning_irl.evaluation.metrics import metric_order
from reasoning_irl.evaluation.outputs import SUMMARY_FILE, fmt, markdown_table
from reasoning_irl.runs import CHECKPOINT_RE, atomic_write_text, write_json

OUT_STEM = "sweep_table"


@dataclass
class Evaluation:
    """One eval_summary.json, placed in its group."""

    path: Path
    method: str
    setting: str
    seed: int
    metrics: dict[str, float]


# --- statistics ------------------------------------------------------------------------------------------
def t_quantile(p: float, df: int) -> float:
    """The p-quantile of Student's t with df degrees of freedom."""
    from scipy.stats import t  # scipy loads only for a sweep table

    return float(t.ppf(p, df))


def mean_ci(values: list[float], level: float = 0.95) -> tuple[float, Optional[tuple[float, float]]]:
    """Mean and the t interval over independent runs (seeds); no interval from a single value."""
    n = len(values)
    mean = sum(values) / n
    if n < 2:
        return mean, None
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    half = t_quantile(0.5 + level / 2, n - 1) * sd / math.sqrt(n)
    return mean, (mean - half, mean + half)


# --- reading a sweep -------------------------------------------------------------------------------------
def find_summaries(inputs: list[str]) -> list[Path]:
    """eval_summary.json files: given directly, under given folders (recursively), or matched by globs."""
    found: set[Path] = set()
    for item in inputs:
        paths = [Path(p) for p in sorted(glob.glob(item, recursive=True))] or [Path(item)]
        for path in paths:
            if path.is_file():
                found.add(path.resolve())
            elif path.is_dir():
                found.update(p.resolve() for p in path.rglob(SUMMARY_FILE))
            else:
                raise ConfigError(f"{item}: no such file, folder or match")
    if not found:
        raise ConfigError(f"no {SUMMARY_FILE} under {', '.join(inputs)}")
    return sorted(found)


def training_run(adapter: Optional[str]) -> Optional[Path]:
    """The run folder that produced an evaluated adapter (``<run>/final`` or ``<run>/checkpoint-N``), if found.

    A relative adapter path is tried from the working directory (evaluate.py records it as given)."""
    if not adapter:
        return None
    path = Path(adapter).expanduser()
    run = path.parent if path.name == "final" or CHECKPOINT_RE.match(path.name) else path
    return run if (run / "config.yaml").is_file() else None


def swept_overrides(run: Optional[Path]) -> list[str]:
    """``key=value`` parts of a multirun job's run folder name (``ablation=sparse,seed=1``), seed left out."""
    if run is None or "=" not in run.name:
        return []
    parts = re.split(r",(?=[^,=]+=)", run.name)  # a value may hold a comma; a new part starts with key=
    return [p for p in parts if p.split("=", 1)[0] != "seed"]


def place(path: Path) -> Evaluation:
    """Read one summary and work out its method, setting and seed."""
    try:
        summary = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path}: unreadable ({exc})") from None
    config = summary.get("config") or {}
    adapter = (summary.get("policy") or {}).get("adapter")
    run = training_run(adapter)
    trained = (yaml.safe_load((run / "config.yaml").read_text()) or {}) if run else {}
    if trained:
        method = (trained.get("method") or {}).get("name", "?")
    else:
        method = "base" if not adapter else (config.get("method") or {}).get("name", "?")
    seed = trained.get("seed", config.get("seed", 0))
    dataset = (config.get("dataset") or {}).get("name", "?")
    model = Path(str((config.get("model") or {}).get("name_or_path", "?"))).name
    parts = [f"{dataset}/{config.get('split', '?')}", model, *swept_overrides(run)]
    if summary.get("reward_model"):
        parts.append("reranked")
    metrics = {
        name: m["value"]
        for name, m in (summary.get("metrics") or {}).items()
        if isinstance(m, dict) and isinstance(m.get("value"), (int, float))
    }
    return Evaluation(path, method, " ".join(parts), int(seed), metrics)


# --- the table -------------------------------------------------------------------------------------------
def aggregate(evaluations: list[Evaluation]) -> list[dict[str, Any]]:
    """One row per (setting, method, metric): seeds, values, n, mean and the 95% interval."""
    groups: dict[tuple[str, str], dict[int, Evaluation]] = {}
    for ev in evaluations:
        group = groups.setdefault((ev.setting, ev.method), {})
        if ev.seed in group:
            raise ConfigError(
                f"two evaluations of {ev.method} / {ev.setting} / seed {ev.seed}: {group[ev.seed].path} and {ev.path}"
            )
        group[ev.seed] = ev
    rows = []
    for (setting, method), by_seed in sorted(groups.items()):
        names = sorted({m for ev in by_seed.values() for m in ev.metrics}, key=metric_order)
        for metric in names:
            seeds = sorted(s for s, ev in by_seed.items() if metric in ev.metrics)
            values = [by_seed[s].metrics[metric] for s in seeds]
            mean, ci = mean_ci(values)
            rows.append(
                {
                    "setting": setting,
                    "method": method,
                    "metric": metric,
                    "n": len(values),
                    "mean": mean,
                    "ci": list(ci) if ci else None,
                    "seeds": seeds,
                    "values": values,
                    "sources": [str(by_seed[s].path) for s in seeds],
                }
            )
    return rows


def _cell(row: dict[str, Any]) -> str:
    ci = row["ci"]
    interval = f" [{fmt(ci[0])}, {fmt(ci[1])}]" if ci else ""
    return f"{fmt(row['mean'])}{interval} (n={row['n']})"


def to_markdown(rows: list[dict[str, Any]]) -> str:
    """A section per setting: metrics down, methods across, each cell ``mean [95% CI] (n=seeds)``."""
    lines = ["# Sweep results", "", "Mean over seeds [95% t interval] (n = seeds).", ""]
    for setting in sorted({r["setting"] for r in rows}):
        mine = [r for r in rows if r["setting"] == setting]
        methods = sorted({r["method"] for r in mine})
        metrics = sorted({r["metric"] for r in mine}, key=metric_order)
        cells = {(r["metric"], r["method"]): _cell(r) for r in mine}
        table = [[m] + [cells.get((m, meth), "") for meth in methods] for m in metrics]
        lines += [f"## {setting}", "", *markdown_table(["metric", *methods], table)]
        lines.append("")
    return "\n".join(lines)


def to_csv(rows: list[dict[str, Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["setting", "method", "metric", "n", "mean", "ci_low", "ci_high", "seeds"])
    for r in rows:
        lo, hi = r["ci"] or ("", "")
        writer.writerow(
            [r["setting"], r["method"], r["metric"], r["n"], r["mean"], lo, hi, " ".join(map(str, r["seeds"]))]
        )
    return buffer.getvalue()


def write_tables(rows: list[dict[str, Any]], out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / f"{OUT_STEM}.{ext}" for ext in ("md", "json", "csv")]
    atomic_write_text(paths[0], to_markdown(rows))
    write_json(paths[1], rows)
    atomic_write_text(paths[2], to_csv(rows))
    return paths


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m reasoning_irl.evaluation.aggregate", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "inputs",
        nargs="+",
        help="evaluation folders (searched recursively), eval_summary.json "
        "files or globs (quote them: 'outputs/eval/*')",
    )
    parser.add_argument("--out", type=Path, required=True, help="folder for sweep_table.{md,json,csv}")
    args = parser.parse_args(argv)
    try:
        evaluations = [place(p) for p in find_summaries(args.inputs)]
        paths = write_tables(aggregate(evaluations), args.out)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"{len(evaluations)} evaluations -> {', '.join(map(str, paths))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
