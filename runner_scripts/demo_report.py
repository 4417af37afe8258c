"""Print the miniature paper's table from a demo folder (runner_scripts/demo.sh writes it).

    python runner_scripts/demo_report.py outputs/demo-s0 [--selector mean]
    python runner_scripts/demo_report.py outputs/demo-s0 outputs/demo-s1 outputs/demo-s2   # over seeds

Reads <demo>/eval/<method>/eval_summary.json for base, sft, grpo and airl and
<demo>/eval_irl/irl_diagnostics.json; prints markdown: one row per method (greedy accuracy, pass@k at
T=1, maj@N, reranking by the AIRL reward against the random-selection baseline), then the reward model's
diagnostics. One folder: each value with its 95% bootstrap CI over problems; several (one per seed):
the mean ± the standard deviation over seeds. Exit 2 when a file is missing.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path
from typing import Optional

METHODS = [("base", "base"), ("sft", "SFT"), ("grpo", "GRPO"), ("airl", "AIRL")]


def cell(*entries: Optional[dict]) -> str:
    """One run: '0.235 [0.180, 0.295]' (its CI); several: '0.235 ± 0.021' (mean ± sd over runs);
    '–' when a run lacks the metric."""
    if not entries or any(not isinstance(e, dict) or e.get("value") is None for e in entries):
        return "–"
    if len(entries) > 1:
        values = [e["value"] for e in entries]
        return f"{statistics.mean(values):.3f} ± {statistics.stdev(values):.3f}"
    lo, hi = (entries[0].get("ci") or [None, None])[:2]
    ci = f" [{lo:.3f}, {hi:.3f}]" if lo is not None and hi is not None else ""
    return f"{entries[0]['value']:.3f}{ci}"


def method_table(runs: list[dict[str, dict]], selector: str) -> list[str]:
    """``runs``: one {method key: eval summary} per demo folder."""
    n = runs[0]["base"]["n_samples"]
    ks = sorted({int(name[len("pass@"):]) for run in runs for s in run.values() for name in s["metrics"]
                 if name.startswith("pass@")})
    names = ["greedy_accuracy"] + [f"pass@{k}" for k in ks] + [f"maj@{n}", f"success@1|{n}/{selector}", f"random@1|{n}"]
    header = ["method", "greedy"] + [f"pass@{k}" for k in ks] + [f"maj@{n}", f"rerank@1\\|{n} ({selector})", f"random@1\\|{n}"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for key, label in METHODS:
        row = [label] + [cell(*(run[key]["metrics"].get(name) for run in runs)) for name in names]
        lines.append("| " + " | ".join(row) + " |")
    return lines


def irl_lines(diags: list[dict]) -> list[str]:
    first = diags[0]
    loc = first["localization"]
    lines = [f"- expert above its perturbed copy (pairwise accuracy, {first['score']} token reward): "
             f"{cell(*(d['pairwise_accuracy'] for d in diags))} over {first['n_perturbed']} perturbed traces "
             "(chance 0.5)",
             f"- first corrupted step found (localisation): {cell(*(d['localization'] for d in diags))} "
             f"(chance {loc['chance']:.3f})",
             f"- token AUROC, clean vs corrupted-step tokens: {cell(*(d['token_auroc'] for d in diags))} (chance 0.5)"]
    if all(d.get("samples") for d in diags):
        # An AUROC is undefined (None) when a run's samples are all correct or all wrong.
        aurocs = {s: [{"value": d["samples"]["auroc"].get(s)} for d in diags] for s in first["samples"]["auroc"]}
        defined = {s: v for s, v in aurocs.items() if all(e["value"] is not None for e in v)}
        if defined:
            best = max(defined, key=lambda s: statistics.mean(e["value"] for e in defined[s]))
            lines.append(f"- base policy samples, correct vs wrong answer, AUROC of the best selector ({best}): "
                         f"{cell(*defined[best])} (chance 0.5)")
        else:
            lines.append("- base policy samples, correct vs wrong answer: AUROC undefined (one class only)")
    return lines


def read_demo(folder: Path) -> tuple[dict[str, dict], dict]:
    paths = {key: folder / "eval" / key / "eval_summary.json" for key, _ in METHODS}
    paths["irl"] = folder / "eval_irl" / "irl_diagnostics.json"
    missing = [str(p) for p in paths.values() if not p.is_file()]
    if missing:
        raise FileNotFoundError(f"missing {', '.join(missing)}; run runner_scripts/demo.sh first")
    data = {key: json.loads(p.read_text(encoding="utf-8")) for key, p in paths.items()}
    return data, data.pop("irl")


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("demo_dirs", type=Path, nargs="+", help="one demo folder, or one per seed")
    parser.add_argument("--selector", default="mean", help="rerank selector shown in the main table")
    args = parser.parse_args(argv)
    try:
        demos = [read_demo(folder) for folder in args.demo_dirs]
    except FileNotFoundError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    runs, diags = [d[0] for d in demos], [d[1] for d in demos]
    base = runs[0]["base"]
    spread = "95% bootstrap CIs over problems" if len(runs) == 1 else f"mean ± sd over {len(runs)} seeds"
    print(f"# Miniature paper: {base['n_problems']} held-out synthetic problems, N={base['n_samples']} samples "
          f"at T=1 ({spread})\n")
    print("\n".join(method_table(runs, args.selector)))
    print("\nReward model (AIRL discriminator) against ground truth:\n")
    print("\n".join(irl_lines(diags)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
