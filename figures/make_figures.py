"""Turn evaluation folders into the paper's figures, tables and an HTML token browser.

    python figures/make_figures.py runs/base/eval runs/sft/eval ... --out paper/ \
        [--labels base sft grpo airl] [--irl runs/airl/irl_eval]

Each evaluation folder holds ``eval_summary.json`` and ``eval_results.jsonl``; the optional
``--irl`` folder holds ``irl_diagnostics.json`` and ``irl_traces.jsonl``. A method missing a
file or a metric is left out of the artefacts that need it, with a printed note; a path that
does not exist is an error (exit 2) because it is almost always a typo.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

if __package__ in (None, ""):
    # Run as a script: make the repository root importable so ``figures`` is a package.
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from figures import html_view, plots, tables, token_plots  # noqa: E402


@dataclass
class Method:
    label: str
    path: Path
    summary: Optional[dict] = None
    rows: list = field(default_factory=list)
    parsed: dict = field(default_factory=lambda: tables.parse_metrics({}))


def read_json(path: Path) -> Optional[dict]:
    if not path.is_file():
        print(f"note: {path} is missing; skipped")
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        print(f"note: {path} is unreadable ({err}); skipped")
        return None
    if not isinstance(data, dict):
        print(f"note: {path} is not a JSON object; skipped")
        return None
    return data


def read_jsonl(path: Path) -> list[dict]:
    """Rows of a JSONL file; a bad line (e.g. a run killed mid-write) is skipped, not fatal."""
    if not path.is_file():
        print(f"note: {path} is missing; skipped")
        return []
    rows, bad = [], 0
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except ValueError:
                bad += 1
                continue
            if isinstance(row, dict):
                rows.append(row)
            else:
                bad += 1
    if bad:
        print(f"note: {path}: {bad} malformed line(s) skipped")
    return rows


def load_method(label: str, path: Path) -> Method:
    method = Method(label, path)
    method.summary = read_json(path / "eval_summary.json")
    if method.summary is not None:
        metrics = method.summary.get("metrics")
        if not isinstance(metrics, dict):
            print(f"note: {label}: eval_summary.json has no 'metrics' object")
            metrics = {}
        method.parsed = tables.parse_metrics(metrics)
    method.rows = read_jsonl(path / "eval_results.jsonl")
    return method


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("eval_dirs", nargs="+", type=Path, help="evaluation folders, one per method/run")
    parser.add_argument("--out", type=Path, required=True, help="folder for the artefacts (created)")
    parser.add_argument("--labels", nargs="+", help="method names, one per eval dir (default: folder names)")
    parser.add_argument(
        "--irl", type=Path, help="reward-model diagnostics folder (irl_diagnostics.json, irl_traces.jsonl)"
    )
    parser.add_argument(
        "--heatmap-method",
        help="label whose samples fill token_heatmaps (default: the "
        "last method with token rewards, usually the AIRL run)",
    )
    parser.add_argument(
        "--html-max-problems",
        type=int,
        default=25,
        help="problems shown in tokens.html, for samples and for traces alike (keeps it a few MB)",
    )
    parser.add_argument("--html-max-samples", type=int, default=6, help="per method and problem, greedy first")
    return parser


def _default_labels(paths: list[Path]) -> list[str]:
    # Folder names; when they collide (runs/*/eval) fall back to the parent's name too.
    names = [p.resolve().name for p in paths]
    if len(set(names)) < len(names):
        names = [f"{p.resolve().parent.name}/{p.resolve().name}" for p in paths]
    return names


def main(argv: Optional[list[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    started = time.time()
    for path in list(args.eval_dirs) + ([args.irl] if args.irl else []):
        if not path.is_dir():
            print(f"error: {path} does not exist or is not a directory", file=sys.stderr)
            return 2
    labels = args.labels or _default_labels(args.eval_dirs)
    if len(labels) != len(args.eval_dirs):
        print(f"error: {len(labels)} labels for {len(args.eval_dirs)} eval dirs", file=sys.stderr)
        return 2
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)

    methods = [load_method(label, path) for label, path in zip(labels, args.eval_dirs)]
    summarised = [(m.label, m.parsed) for m in methods if m.summary is not None]
    for label, parsed in summarised:  # say up front which artefacts a method will be missing from
        absent = [
            name
            for family, name in (
                ("pass", "pass@k"),
                ("success", "success@k|N"),
                ("random", "random@k|N"),
                ("oracle", "oracle@N"),
            )
            if not parsed[family]
        ]
        if absent:
            print(f"note: {label}: no {', '.join(absent)} metrics; left out of the artefacts that need them")
    written: list[Path] = []
    written += plots.pass_at_k(summarised, out)
    written += plots.rerank(summarised, out)
    written += plots.reward_distributions([(m.label, m.rows) for m in methods], out)
    written += plots.rerank_gain([(m.label, m.rows) for m in methods], out)

    with_tokens = [m for m in methods if any(isinstance(r.get("token_rewards"), list) for r in m.rows)]
    if args.heatmap_method and args.heatmap_method not in [m.label for m in with_tokens]:
        print(f"note: --heatmap-method {args.heatmap_method} has no token rewards; using the default")
    chosen = next((m for m in with_tokens if m.label == args.heatmap_method), with_tokens[-1] if with_tokens else None)
    if chosen is not None:
        written += token_plots.token_heatmaps(chosen.label, chosen.rows, out)
    else:
        print("note: no method has token_rewards; skipping token_heatmaps")

    written += tables.pass_at_k_table(summarised, out)
    written += tables.rerank_table(summarised, out)
    written += tables.summary_table(summarised, out)

    traces: list[dict] = []
    if args.irl:
        diag = read_json(args.irl / "irl_diagnostics.json")
        if diag is not None:
            written += tables.irl_table(diag, out)
            written += plots.irl_per_kind(diag, out)
        traces = read_jsonl(args.irl / "irl_traces.jsonl")
        if traces:
            written += token_plots.irl_trace_heatmap(traces, out)
    written += html_view.write_html(
        [(m.label, m.rows, m.parsed) for m in methods], out, traces, args.html_max_problems, args.html_max_samples
    )

    for path in written:
        print(f"wrote {path}")
    print(f"{len(written)} artefacts in {time.time() - started:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
