"""Print the miniature paper's table from a demo folder (runner_scripts/demo.sh writes it).

    python runner_scripts/demo_report.py outputs/demo-s0 [--selector mean]
    python runner_scripts/demo_report.py outputs/demo-s0 outputs/demo-s1 outputs/demo-s2   # over seeds

Reads <demo>/eval/<method>/eval_summary.json (and eval_results.jsonl) for base, sft, grpo and airl and
<demo>/eval_irl/irl_diagnostics.json; prints markdown: one row per method (greedy accuracy, pass@k at
T=1, maj@N, reranking by the AIRL reward against the random-selection baseline, the base's habit rate),
then each method's paired change against the base, the error classes of every method's greedy outputs and
samples, then the reward model's diagnostics (with, for a habit
that can be located in a completion, whether the reward is lowest on its step in the base's samples). One folder: each
value with its 95% bootstrap CI over problems; several (one per seed): the mean ± the standard deviation
over seeds. The paired changes resample the same problems for both policies (every method is evaluated on
the same problems with the same sampling seeds), within each seed. Exit 2 when a file is missing.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path
from typing import Optional

import numpy as np

from reasoning_irl.data import dataset_probes
from reasoning_irl.data.habits import parse_equations
from reasoning_irl.evaluation.outputs import markdown_table
from reasoning_irl.evaluation.probe_steps import step_localization
from reasoning_irl.runs import read_jsonl

METHODS = [("base", "base"), ("sft", "SFT"), ("grpo", "GRPO"), ("airl", "AIRL")]
VERIFIER_FREE = {
    "verifree": "VeriFree",
    "perplexity": "perplexity reward",
    "relativistic": "RARO (relativistic critic)",
    "prime": "PRIME (implicit PRM, graded)",
}
"""The papers' names of the verifier-free methods (runner_scripts/demo_verifier_free.sh trains each)."""


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


def change_cell(change: dict) -> str:
    """A paired change and its CI: '+0.057 [-0.003, +0.117]'."""
    return f"{change['value']:+.3f} [{change['ci'][0]:+.3f}, {change['ci'][1]:+.3f}]"


def habits_of(runs: list[dict[str, dict]], habit: Optional[str] = None) -> list[str]:
    """``habit/<habit>`` when one is named; else every habit metric that some method shows at all (the others
    would be columns of 0)."""
    if habit:
        return [f"habit/{habit}"]
    names = {
        name
        for run in runs
        for s in run.values()
        for name, e in s["metrics"].items()
        if name.startswith("habit/") and (e or {}).get("value")
    }
    return sorted(names)


def method_table(runs: list[dict[str, dict]], selector: str, habits: list[str]) -> list[str]:
    """``runs``: one {method key: eval summary} per demo folder."""
    n = runs[0]["base"]["n_samples"]
    ks = sorted(
        {
            int(name[len("pass@") :])
            for run in runs
            for s in run.values()
            for name in s["metrics"]
            if name.startswith("pass@")
        }
    )
    names = (
        ["greedy_accuracy"]
        + [f"pass@{k}" for k in ks]
        + [f"maj@{n}", f"success@1|{n}/{selector}", f"random@1|{n}"]
        + habits
    )
    header = (
        ["method", "greedy"]
        + [f"pass@{k}" for k in ks]
        + [f"maj@{n}", f"rerank@1|{n} ({selector})", f"random@1|{n}"]
        + [h.replace("/", ": ") for h in habits]
    )
    rows = [
        [label] + [cell(*(run[key]["metrics"].get(name) for run in runs)) for name in names] for key, label in METHODS
    ]
    return markdown_table(header, rows)


def per_problem(rows: list[dict], habit: Optional[str] = None) -> dict[str, float]:
    """{problem: share of its sampled (not greedy) rows that are correct, or that show ``habit`` (its probe's
    name, habit/<name>)}."""
    hits: dict[str, list[float]] = {}
    for row in rows:
        if not row.get("greedy"):
            value = row["correct"] if habit is None else (row.get("flags") or {}).get(habit, False)
            hits.setdefault(row["problem_id"], []).append(float(value))
    return {pid: sum(v) / len(v) for pid, v in hits.items()}


def paired_change(pairs: list[tuple[dict[str, float], dict[str, float]]], seed: int = 0, resamples: int = 2000) -> dict:
    """Mean over seeds of (method - base) on the problems both have, with a 95% paired bootstrap CI: each
    resample draws problems with replacement within every seed and takes the same draw for both policies."""
    diffs = [np.array([m[p] - b[p] for p in sorted(set(m) & set(b))]) for m, b in pairs]
    rng = np.random.default_rng(seed)
    stats = np.mean([d[rng.integers(0, len(d), (resamples, len(d)))].mean(axis=1) for d in diffs], axis=0)
    lo, hi = np.quantile(stats, [0.025, 0.975])
    return {"value": float(np.mean([d.mean() for d in diffs])), "ci": [float(lo), float(hi)]}


def change_table(results: list[dict[str, list[dict]]], habits: list[str], pairs: list[tuple[str, str]]) -> list[str]:
    """The paired change of each (method, against) pair (same problems, same sampling seeds): pass@1 and every
    habit rate shown."""
    label = dict(METHODS)
    header = ["method", "Δ pass@1"] + [f"Δ {h.replace('/', ': ')}" for h in habits]
    rows = []
    for key, against in pairs:
        row = [f"{label[key]} vs {label[against]}"]
        for habit in [None, *habits]:
            per_seed = [(per_problem(r[key], habit), per_problem(r[against], habit)) for r in results]
            row.append(change_cell(paired_change(per_seed)))
        rows.append(row)
    return markdown_table(header, rows)


def error_class(row: dict, habits: list[str]) -> str:
    """What an output got wrong, counted once: correct; else the first habit it shows; else a wrong equation
    (``a op b = c`` with c wrong: the arithmetic); else other (no answer, a wrong chain, ...)."""
    if row["correct"]:
        return "correct"
    shown = row.get("flags") or {}
    for habit in habits:
        if shown.get(habit):
            return habit
    return "wrong arithmetic" if any(not eq.is_right for eq in parse_equations(row["completion"])) else "other"


def error_table(results: list[dict[str, list[dict]]], habits: list[str]) -> list[str]:
    """Share of each error class (:func:`error_class`) among the greedy outputs and among the samples at T=1,
    per method: what a method fixed, and what it broke."""
    classes = ["correct", *habits, "wrong arithmetic", "other"]

    def classified(rows: list[dict], greedy: bool) -> list[tuple[str, str]]:  # (problem, class) of each output
        return [(r["problem_id"], error_class(r, habits)) for r in rows if bool(r.get("greedy")) == greedy]

    def arithmetic(found: list[tuple[str, str]]) -> dict[str, float]:  # per problem, for the paired change
        by_problem: dict[str, list[float]] = {}
        for problem, c in found:
            by_problem.setdefault(problem, []).append(c == "wrong arithmetic")
        return {pid: sum(v) / len(v) for pid, v in by_problem.items()}

    rows = []
    for key, label in METHODS:
        for greedy in (True, False):
            found = [classified(result[key], greedy) for result in results]
            shares = {c: [{"value": sum(x == c for _, x in f) / len(f) if f else None} for f in found] for c in classes}
            change = ""
            if key != "base":
                base = [classified(result["base"], greedy) for result in results]
                change = change_cell(paired_change([(arithmetic(m), arithmetic(b)) for m, b in zip(found, base)]))
            rows.append([label, "greedy" if greedy else "T=1", *(cell(*shares[c]) for c in classes), change])
    header = ["method", "decoding", *(c.removeprefix("habit/").replace("_", " ") for c in classes)]
    header.append("Δ wrong arithmetic vs base")
    return markdown_table(header, rows)


def variant_table(
    folders: list[Path], variants: list[tuple[str, str]], against: list[str], habits: list[str], selector: str
) -> list[str]:
    """Methods beyond the main table (``(label, eval subfolder)`` in every demo folder): pass@1, habit rates,
    reranking, the share of samples with a wrong equation, and paired changes: pass@1 against each method of
    ``against`` (main-table keys), the habits against the first, within each seed. A variant missing in some folder
    is marked."""

    def load(folder: Path, key: str) -> Optional[tuple[dict, list[dict]]]:
        summary, rows = folder / "eval" / key / "eval_summary.json", folder / "eval" / key / "eval_results.jsonl"
        if not (summary.is_file() and rows.is_file()):
            return None
        return json.loads(summary.read_text(encoding="utf-8")), read_jsonl(rows)

    label = dict(METHODS)
    reference = {key: [load(f, key) for f in folders] for key in against}
    n = reference[against[0]][0][0]["n_samples"]
    deltas = [(None, other) for other in against] + [(habit, against[0]) for habit in habits]
    header = ["method", "pass@1", *(h.replace("/", ": ") for h in habits)]
    header += [f"rerank@1|{n} ({selector})", "wrong arithmetic (T=1)"]
    header += [f"Δ {(h or 'pass@1').replace('/', ': ')} vs {label[other]}" for h, other in deltas]
    rows = []
    for name, key in variants:
        got = [load(f, key) for f in folders]
        if any(g is None for g in got):
            rows.append([name, "not run or failed"] + ["–"] * (len(header) - 2))
            continue
        metrics = [g[0]["metrics"] for g in got]
        row = [name] + [cell(*(m.get(k) for m in metrics)) for k in ["pass@1", *habits, f"success@1|{n}/{selector}"]]
        samples = [[r for r in g[1] if not r.get("greedy")] for g in got]
        wrong = [{"value": sum(error_class(r, habits) == "wrong arithmetic" for r in s) / len(s)} for s in samples]
        row.append(cell(*wrong))
        for habit, other in deltas:
            if key == other:  # against itself: nothing to show
                row.append("")
                continue
            pairs = [(per_problem(g[1], habit), per_problem(a[1], habit)) for g, a in zip(got, reference[other])]
            row.append(change_cell(paired_change(pairs)))
        rows.append(row)
    return markdown_table(header, rows)


def localisation_baselines(diags: list[dict]) -> str:
    """The guesses that ignore the rewards (always the first step, the last, uniform), as evaluate_irl reports
    them; older diagnostics carry only the uniform chance."""
    baselines = [d["localization"].get("baselines") for d in diags]
    if not all(baselines):
        return f"uniform guess {diags[0]['localization']['chance']:.3f}"
    names = {"first_step": "always the first step", "last_step": "always the last", "uniform": "uniform guess"}
    return "; ".join(f"{label} {cell(*(b[key] for b in baselines))}" for key, label in names.items())


def irl_lines(diags: list[dict]) -> list[str]:
    first = diags[0]
    lines = [
        f"- expert above its perturbed copy (pairwise accuracy, {first['score']} token reward): "
        f"{cell(*(d['pairwise_accuracy'] for d in diags))} over {first['n_perturbed']} perturbed traces "
        "(chance 0.5)",
        f"- first corrupted step found (localisation): {cell(*(d['localization'] for d in diags))} "
        f"({localisation_baselines(diags)})",
        f"- token AUROC, clean vs corrupted-step tokens: {cell(*(d['token_auroc'] for d in diags))} (chance 0.5)",
    ]
    if all(d.get("samples") for d in diags):
        # An AUROC is undefined (None) when a run's samples are all correct or all wrong.
        aurocs = {s: [{"value": d["samples"]["auroc"].get(s)} for d in diags] for s in first["samples"]["auroc"]}
        defined = {s: v for s, v in aurocs.items() if all(e["value"] is not None for e in v)}
        if defined:
            best = max(defined, key=lambda s: statistics.mean(e["value"] for e in defined[s]))
            lines.append(
                f"- base policy samples, correct vs wrong answer, AUROC of the best selector ({best}): "
                f"{cell(*defined[best])} (chance 0.5)"
            )
        else:
            lines.append("- base policy samples, correct vs wrong answer: AUROC undefined (one class only)")
    return lines


def habit_step_lines(results: list[dict[str, list[dict]]], habits: list[str]) -> list[str]:
    """Whether the reward is lowest on the step that shows the habit, in the base policy's samples (a habit
    whose probe can locate it in a completion only: evaluation/probe_steps.py)."""
    probes = dataset_probes({"name": "synthetic"})
    lines = []
    for habit in habits:
        probe = probes.get(habit)
        if probe is None or probe.locate is None:
            continue
        found = [step_localization(rows["base"], habit, probe.locate) for rows in results]
        if any(f is None for f in found):
            continue
        base = {key: cell(*(f["baselines"][key] for f in found)) for key in ("first_step", "uniform")}
        lines.append(
            f"- the {habit.removeprefix('habit/')} step in the base policy's samples, the lowest-reward step: "
            f"{cell(*(f['localization'] for f in found))} (always the first step {base['first_step']}, uniform "
            f"guess {base['uniform']}; paired against always-first {cell(*(f['vs_first_step'] for f in found))}); "
            f"its reward against the same step of correct samples, AUROC "
            f"{cell(*({'value': f['step_auroc']['value']} for f in found))} (chance 0.5)"
        )
    return lines


def read_demo(folder: Path) -> tuple[dict[str, dict], dict, dict[str, list[dict]]]:
    """(eval summaries by method, reward-model diagnostics, eval_results rows by method) of one demo folder."""
    paths = {key: folder / "eval" / key / "eval_summary.json" for key, _ in METHODS}
    paths["irl"] = folder / "eval_irl" / "irl_diagnostics.json"
    results = {key: folder / "eval" / key / "eval_results.jsonl" for key, _ in METHODS}
    missing = [str(p) for p in [*paths.values(), *results.values()] if not p.is_file()]
    if missing:
        raise FileNotFoundError(f"missing {', '.join(missing)}; run runner_scripts/demo.sh first")
    data = {key: json.loads(p.read_text(encoding="utf-8")) for key, p in paths.items()}
    rows = {key: read_jsonl(p) for key, p in results.items()}
    return data, data.pop("irl"), rows


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("demo_dirs", type=Path, nargs="+", help="one demo folder, or one per seed")
    parser.add_argument("--selector", default="mean", help="rerank selector shown in the main table")
    parser.add_argument("--habit", default=None, help="the habit whose rate is shown (default: every habit shown)")
    parser.add_argument(
        "--ablations",
        nargs="*",
        default=None,
        metavar="NAME",
        help="also the AIRL ablation table (eval/ablation_<NAME>, runner_scripts/demo_ablations.sh)",
    )
    parser.add_argument(
        "--verifier-free",
        nargs="*",
        default=None,
        metavar="NAME",
        help="also the verifier-free methods beside AIRL (eval/<NAME>, runner_scripts/demo_verifier_free.sh)",
    )
    args = parser.parse_args(argv)
    try:
        demos = [read_demo(folder) for folder in args.demo_dirs]
    except FileNotFoundError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    runs, diags, results = [d[0] for d in demos], [d[1] for d in demos], [d[2] for d in demos]
    base = runs[0]["base"]
    spread = "95% bootstrap CIs over problems" if len(runs) == 1 else f"mean ± sd over {len(runs)} seeds"
    print(
        f"# Miniature paper: {base['n_problems']} held-out synthetic problems, N={base['n_samples']} samples "
        f"at T=1 ({spread})\n"
    )
    habits = habits_of(runs, args.habit)
    print("\n".join(method_table(runs, args.selector, habits)))
    print(f"\nPaired changes (mean over {len(runs)} seed(s), 95% paired bootstrap CI over problems):\n")
    against_base = [(key, "base") for key, _ in METHODS[1:]]
    print("\n".join(change_table(results, habits, against_base + [("airl", "sft"), ("airl", "grpo")])))
    print("\nError classes (share of outputs; a wrong output counted once: the habit, else a wrong equation):\n")
    print("\n".join(error_table(results, habits)))
    if args.ablations is not None:
        print(f"\nAIRL ablations from the same base ({spread}; Δ: paired against the full AIRL run of each seed):\n")
        variants = [("(full)", "airl")] + [(name, f"ablation_{name}") for name in args.ablations]
        print("\n".join(variant_table(args.demo_dirs, variants, ["airl"], habits, args.selector)))
    if args.verifier_free is not None:
        print(f"\nWithout a verifier, from the same base ({spread}; Δ: paired within each seed):\n")
        variants = [("AIRL", "airl")] + [(VERIFIER_FREE.get(name, name), name) for name in args.verifier_free]
        print("\n".join(variant_table(args.demo_dirs, variants, ["airl", "grpo", "sft"], habits, args.selector)))
    print("\nReward model (AIRL discriminator) against ground truth:\n")
    print("\n".join(irl_lines(diags) + habit_step_lines(results, habits)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
