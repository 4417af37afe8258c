"""Metric parsing and trace helpers, and the markdown / LaTeX tables.

The evaluators encode the metric's parameters in its name (``success@1|8/sum``); parsing
lives here once so the plots and the tables agree on what a metric means.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any, Optional

import numpy as np

from reasoning_irl.evaluation.outputs import markdown_table

_PATTERNS = {
    "pass": re.compile(r"^pass@(\d+)$"),
    "maj": re.compile(r"^maj@(\d+)$"),
    "random": re.compile(r"^random@(\d+)\|(\d+)$"),
    "oracle": re.compile(r"^oracle@(\d+)$"),
    "success": re.compile(r"^success@(\d+)\|(\d+)/(.+)$"),
    "vote": re.compile(r"^weighted_vote/(.+)$"),
}


def step_token_spans(tokens: list[str], steps: list) -> list[tuple[int, int]]:
    """Char spans of steps -> token index ranges, via each token's char offset in the joined text."""
    ends = np.cumsum([len(t) for t in tokens])
    starts = ends - np.array([len(t) for t in tokens])
    out = []
    for step in steps:
        try:
            s, e = int(step[0]), int(step[1])
        except (TypeError, ValueError, IndexError):  # a malformed span marks nothing
            out.append((0, 0))
            continue
        inside = np.nonzero((starts < e) & (ends > s))[0]
        out.append((int(inside[0]), int(inside[-1]) + 1) if len(inside) else (0, 0))
    return out


def pair_trace(traces: list[dict]) -> Optional[tuple[dict, dict]]:
    """A perturbed trace with a known corrupted step, and the expert trace it came from.

    The source is found by an explicit id field or id prefix when present, else by the longest
    shared token prefix: a perturbation leaves the steps before ``first_step`` untouched.
    """
    experts = [t for t in traces if t.get("kind") == "expert" and isinstance(t.get("tokens"), list)]
    for bad in traces:
        steps = bad.get("steps") or []
        fs = bad.get("first_step")
        if bad.get("kind") == "expert" or not isinstance(fs, int) or not 0 <= fs < len(steps) or not experts:
            continue
        if not (isinstance(bad.get("tokens"), list) and len(bad.get("token_rewards") or []) == len(bad["tokens"])):
            continue
        source = next((e for e in experts if e.get("id") in (bad.get("source_id"), bad.get("expert_id"))), None)
        source = source or next((e for e in experts if str(bad.get("id", "")).startswith(str(e.get("id")))), None)

        def shared(e: dict, bad: dict = bad) -> int:
            return next(
                (i for i, (x, y) in enumerate(zip(e["tokens"], bad["tokens"])) if x != y),
                min(len(e["tokens"]), len(bad["tokens"])),
            )

        source = source or max(experts, key=shared)
        if len(source.get("token_rewards") or []) == len(source["tokens"]):
            return source, bad
    return None


def metric_entry(raw: Any) -> Optional[dict]:
    """``{"value", "lo", "hi", "n"}`` or None when the entry is unusable.

    Evaluators are built in parallel, so a malformed entry (no value, NaN, bad CI) is
    dropped rather than allowed to crash every artefact.
    """
    if isinstance(raw, (int, float)):
        raw = {"value": raw}
    if not isinstance(raw, dict):
        return None
    try:
        value = float(raw["value"])
    except (KeyError, TypeError, ValueError):
        return None
    if not math.isfinite(value):
        return None
    lo = hi = None
    ci = raw.get("ci")
    if isinstance(ci, (list, tuple)) and len(ci) == 2:
        try:
            lo, hi = float(ci[0]), float(ci[1])
        except (TypeError, ValueError):
            lo = hi = None
        if lo is not None and not (math.isfinite(lo) and math.isfinite(hi)):
            lo = hi = None
    return {"value": value, "lo": lo, "hi": hi, "n": raw.get("n")}


def parse_metrics(metrics: dict) -> dict:
    """Group a summary's ``metrics`` by family, keyed by their numeric parameters."""
    out: dict = {"greedy": None, "pass": {}, "maj": {}, "random": {}, "oracle": {}, "success": {}, "vote": {}}
    for name, raw in (metrics or {}).items():
        entry = metric_entry(raw)
        if entry is None:
            continue
        if name == "greedy_accuracy":
            out["greedy"] = entry
            continue
        for family, pattern in _PATTERNS.items():
            match = pattern.match(name)
            if not match:
                continue
            groups = match.groups()
            if family in ("pass", "maj"):
                out[family][int(groups[0])] = entry
            elif family == "random":
                out["random"][(int(groups[0]), int(groups[1]))] = entry
            elif family == "oracle":
                out["oracle"][int(groups[0])] = entry
            elif family == "success":
                out["success"].setdefault(groups[2], {})[(int(groups[0]), int(groups[1]))] = entry
            else:
                out["vote"][groups[0]] = entry
            break
    return out


def rerank_n(parsed: dict) -> Optional[int]:
    """The candidate-pool size N to report: the largest one any selector was scored at."""
    ns = {n for table in parsed["success"].values() for (_, n) in table}
    return max(ns) if ns else None


def fmt(entry: Optional[dict], digits: int = 3) -> str:
    """``value [lo, hi]`` -- the bracket is left out where the evaluator gave no CI."""
    if entry is None:
        return "–"
    text = f"{entry['value']:.{digits}f}"
    if entry["lo"] is not None:
        text += f" [{entry['lo']:.{digits}f}, {entry['hi']:.{digits}f}]"
    return text


_TEX_SPECIAL = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    # OT1 text fonts print |, <, > as other glyphs (em dash, inverted marks)
    "|": r"\textbar{}",
    "<": r"\textless{}",
    ">": r"\textgreater{}",
}


def _tex_escape(text: str) -> str:
    # Character-wise so an escape's own backslash/braces are never escaped a second time.
    return "".join(_TEX_SPECIAL.get(char, char) for char in text)


def _tex_cell(entry: Optional[dict], best: bool, digits: int = 3) -> str:
    if entry is None:
        return "--"
    value = f"{entry['value']:.{digits}f}"
    value = rf"\textbf{{{value}}}" if best else value
    if entry["lo"] is not None:
        value += rf" {{\scriptsize[{entry['lo']:.{digits}f}, {entry['hi']:.{digits}f}]}}"
    return value


def _write_table(
    out: Path,
    stem: str,
    header: list[str],
    rows: list[list[Optional[dict]]],
    row_names: list[list[str]],
    caption: str,
    bold: str = "column",
) -> list[Path]:
    """One table to ``<stem>.md`` and ``<stem>.tex``.

    ``row_names`` are the leading text cells (method, k...); ``rows`` the metric cells. The
    LaTeX copy bolds the best value per column (or per row for rerank tables, where the
    question is which selector wins) because that is what a reader scans for.
    """
    n_text = len(row_names[0]) if row_names else 1
    table = [list(names) + [fmt(c) for c in cells] for names, cells in zip(row_names, rows)]
    md = markdown_table(header, table, right_from=n_text)
    (out / f"{stem}.md").write_text(f"<!-- {caption} -->\n" + "\n".join(md) + "\n", encoding="utf-8")

    def best_of(values: list[Optional[dict]]) -> Optional[float]:
        present = [v["value"] for v in values if v is not None]
        return max(present) if len(present) > 1 else None

    col_best = [best_of([r[j] for r in rows]) for j in range(len(header) - n_text)]
    tex = [
        r"\begin{table}[t]",
        r"\centering",
        r"\small",
        r"\begin{tabular}{" + "l" * n_text + "r" * (len(header) - n_text) + "}",
        r"\toprule",
        " & ".join(_tex_escape(h) for h in header) + r" \\",
        r"\midrule",
    ]
    for names, cells in zip(row_names, rows):
        row_best = best_of(cells[:-1])  # rerank rows: which selector wins; the oracle always would
        marks = [
            c is not None
            and (col_best[j] if bold == "column" else row_best) == c["value"]
            and (bold == "column" or j < len(cells) - 1)
            for j, c in enumerate(cells)
        ]
        tex.append(
            " & ".join([_tex_escape(n) for n in names] + [_tex_cell(c, m) for c, m in zip(cells, marks)]) + r" \\"
        )
    tex += [
        r"\bottomrule",
        r"\end{tabular}",
        rf"\caption{{{_tex_escape(caption)}}}",
        rf"\label{{tab:{stem.replace('_', '-')}}}",
        r"\end{table}",
    ]
    (out / f"{stem}.tex").write_text("\n".join(tex) + "\n", encoding="utf-8")
    return [out / f"{stem}.md", out / f"{stem}.tex"]


def pass_at_k_table(methods: list[tuple[str, dict]], out: Path) -> list[Path]:
    """Methods x k; only methods that report some pass@k are rows."""
    methods = [(label, p) for label, p in methods if p["pass"]]
    if not methods:
        print("note: no method reports pass@k; skipping pass_at_k table")
        return []
    ks = sorted({k for _, p in methods for k in p["pass"]})
    header = ["Method"] + [f"pass@{k}" for k in ks]
    return _write_table(
        out,
        "pass_at_k",
        header,
        [[p["pass"].get(k) for k in ks] for _, p in methods],
        [[label] for label, _ in methods],
        "pass@k with 95% confidence intervals in brackets.",
    )


def rerank_table(methods: list[tuple[str, dict]], out: Path) -> list[Path]:
    """Rows (method, k) at each method's largest N; columns random, each selector, oracle."""
    selectors: list[str] = []
    for _, p in methods:
        selectors += [s for s in p["success"] if s not in selectors]
    if not selectors:
        print("note: no method reports success@k|N; skipping rerank table")
        return []
    row_names, rows = [], []
    for label, p in methods:
        n = rerank_n(p)
        if n is None:
            print(f"note: {label}: no success@k|N metrics; left out of the rerank table")
            continue
        ks = sorted({k for table in p["success"].values() for (k, nn) in table if nn == n})
        for k in ks:
            row_names.append([label, f"{k}|{n}"])
            rows.append(
                [p["random"].get((k, n))]
                + [p["success"].get(s, {}).get((k, n)) for s in selectors]
                + [p["oracle"].get(n)]
            )
    if not rows:
        return []
    header = ["Method", "k|N", "random"] + selectors + ["oracle"]
    return _write_table(
        out,
        "rerank",
        header,
        rows,
        row_names,
        "Success of the top-k of N samples ranked by each reward selector, against a random "
        "choice of k and the oracle (any of N correct).",
        bold="row",
    )


def summary_table(methods: list[tuple[str, dict]], out: Path) -> list[Path]:
    """Greedy, the largest maj@k, and weighted voting per selector: one headline row per method."""
    votes: list[str] = []
    for _, p in methods:
        votes += [s for s in p["vote"] if s not in votes]
    maj_k = max((k for _, p in methods for k in p["maj"]), default=None)
    if not methods:
        return []
    header = ["Method", "greedy"] + ([f"maj@{maj_k}"] if maj_k else []) + [f"vote/{s}" for s in votes]
    rows = [
        [p["greedy"]] + ([p["maj"].get(maj_k)] if maj_k else []) + [p["vote"].get(s) for s in votes] for _, p in methods
    ]
    return _write_table(
        out,
        "summary",
        header,
        rows,
        [[label] for label, _ in methods],
        "Greedy accuracy, majority voting and reward-weighted voting.",
    )


def irl_table(diag: dict, out: Path) -> list[Path]:
    """The reward-model diagnostics with their CIs, one row per perturbation kind (and all kinds): pairwise
    accuracy, token AUROC, localisation and its three reward-free baselines; then pairwise accuracy per
    selector. Config keys, counts of traces and timings stay in irl_diagnostics.json."""
    by_kind = diag.get("by_kind") if isinstance(diag, dict) else None
    if not isinstance(by_kind, dict):
        print("note: irl_diagnostics.json has no by_kind; skipping irl table")
        return []
    header = ["Kind", "n", "pairwise acc.", "token AUROC", "localisation", "first step", "last step", "uniform"]
    row_names, rows = [], []
    for kind, d in [("all", diag)] + sorted(by_kind.items()):
        loc = d.get("localization") or {}
        base = loc.get("baselines") or {}
        row_names.append([kind, str(d.get("n_perturbed", ""))])
        rows.append(
            [metric_entry(d.get("pairwise_accuracy")), metric_entry(d.get("token_auroc")), metric_entry(loc)]
            + [metric_entry(base.get(b)) for b in ("first_step", "last_step", "uniform")]
        )
    written = _write_table(
        out,
        "irl_diagnostics",
        header,
        rows,
        row_names,
        "Reward-model diagnostics per perturbation kind, 95% CIs over problems in brackets. "
        "Localisation: the lowest-reward step is the first corrupted one; beside it the hit "
        "rates of always naming the first step, the last step, or a uniform guess.",
    )
    by_selector = diag.get("pairwise_accuracy_by_selector") or {}
    if by_selector:
        written += _write_table(
            out,
            "irl_selectors",
            ["Selector", "pairwise acc."],
            [[metric_entry(v)] for v in by_selector.values()],
            [[s] for s in by_selector],
            "Expert trace scored above its perturbed copy, by sequence score (selector), 95% CIs over problems.",
        )
    return written
