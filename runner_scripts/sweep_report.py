"""Print the tables of runner_scripts/demo_sweeps.sh (when does learning a reward beat imitation?) and draw pass@1
against each sweep's setting.

    python runner_scripts/sweep_report.py outputs/demo-s0 outputs/demo-s1 outputs/demo-s2 --sweeps demos kl \\
        --demo-counts 16 64 256 --betas 0.04 0.2 1.0 [--figures outputs/demo-sweeps]

Reads <demo>/eval/<key>/eval_results.jsonl: the demo's own runs (sft, grpo, airl, base) are each sweep's default
point, eval/sweep_<method>_<setting> the others. Where the demo's presets give the swept methods different values
(the KL coefficient: GRPO 0.04, AIRL 0.2), each method's own value is its demo run and the other values are swept.
A row per setting and method: pass@1 (mean over seeds, 95% bootstrap CI over problems resampled within each seed),
the paired change against the method's own run at the demo's setting, its share of samples with a wrong equation
(the arithmetic) and with the habit, and the paired change against SFT (and, where GRPO is swept, of AIRL against GRPO; the same problems and sampling seeds). The longer sweep reads
eval/sweep_longer_<method>: the demo's policies on problems one step longer than any training problem, with the share
of samples that write fewer equations than the problem has steps. A setting missing in some folder is shown as not
run. Exit 2 when a demo's own evaluation is missing.
"""

from __future__ import annotations

import argparse
import functools
import statistics
import sys
from pathlib import Path
from typing import Optional

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))  # demo_report beside this file
sys.path.insert(1, str(Path(__file__).resolve().parent.parent))  # figures/ at the repository root

from demo_report import cell, change_cell, error_class, paired_change, per_problem  # noqa: E402

from figures.sweeps import plot_longer, plot_sweep  # noqa: E402
from reasoning_irl.data import load_split  # noqa: E402
from reasoning_irl.data.habits import parse_equations  # noqa: E402
from reasoning_irl.evaluation.outputs import markdown_table  # noqa: E402
from reasoning_irl.runs import read_jsonl  # noqa: E402

DEMO_RUNS = ("base", "sft", "grpo", "airl")
"""The demo's own evaluations (eval/<key>), each sweep's default point."""
LABEL = {"base": "base", "sft": "SFT", "grpo": "GRPO", "airl": "AIRL", "sft_early": "SFT, stopped early"}
METHODS_OF = {"demos": ("sft", "sft_early", "airl"), "errors": ("sft", "airl"), "style": ("sft", "airl")}
METHODS_OF.update(kl=("grpo", "airl"), lr=("grpo", "airl"))
AGAINST = {"demos": ("sft", "sft_early"), "kl": ("sft", "grpo"), "lr": ("sft", "grpo")}
"""Each sweep's paired comparisons (a column each; SFT alone where not listed): a method against one before it in
METHODS_OF, or against the demo's own run of a method the sweep does not train."""
AXES = {  # each sweep's figure: the x axis's label, and whether it is logarithmic
    "demos": ("expert demonstrations", True),
    "errors": ("share of demonstrations with an error", False),
    "style": ("demonstration style", False),
    "kl": ("KL coefficient to the base (method.beta)", True),
    "lr": ("policy learning rate", True),
}


@functools.cache  # the tables, figures and references read the same evaluations many times
def load(folder: Path, key: str) -> Optional[list[dict]]:
    path = folder / "eval" / key / "eval_results.jsonl"
    return read_jsonl(path) if path.is_file() else None


def level(per_seed: list[dict[str, float]]) -> dict:
    """Mean over seeds of a per-problem share, with its 95% bootstrap CI (problems resampled within each seed)."""
    return paired_change([(values, dict.fromkeys(values, 0.0)) for values in per_seed])


def level_cell(per_seed: list[dict[str, float]]) -> str:
    """A per-problem share's level as '0.250 [0.200, 0.300]' (the level is not a change: no signs)."""
    return change_cell(level(per_seed)).replace("+", "")


def shares(rows: list[dict], what: str, habit: str) -> dict:
    """{"value": share of the sampled (T = 1) outputs in error class ``what`` (``habit``, the habit's probe, counted
    before a wrong equation)}."""
    samples = [r for r in rows if not r.get("greedy")]
    return {"value": sum(error_class(r, [habit]) == what for r in samples) / len(samples)}


def demo_value(folders: list[Path], run: str, *path: str) -> str:
    """A setting of the demo's own run, read from its config.yaml (the first seed's)."""
    config = yaml.safe_load((folders[0] / f"{run}-s{seed_of(folders[0])}" / "config.yaml").read_text())
    for key in path:
        config = config[key]
    return str(config)


def seed_of(folder: Path) -> str:
    return folder.name.rsplit("-s", 1)[-1]


def settings_of(sweep: str, args, folders: list[Path]) -> list[tuple[str, str, float]]:
    """(label, eval key suffix with "" for the demo's own run, x for the figure) of each setting."""
    if sweep == "demos":
        dataset = yaml.safe_load((folders[0] / f"demo_sft-s{seed_of(folders[0])}" / "config.yaml").read_text())
        everyone = len(load_split(dataset["dataset"], "train"))
        return [(str(k), f"demos{k}", k) for k in args.demo_counts] + [(f"all ({everyone})", "", everyone)]
    if sweep == "errors":
        return [("0 (the demo)", "", 0.0)] + [(str(r), f"errors{r}", float(r)) for r in args.error_rates]
    if sweep == "style":
        return [("as written (the demo)", "", 0.0)] + [
            (s, f"style_{s}", float(i + 1)) for i, s in enumerate(args.styles)
        ]
    values = args.betas if sweep == "kl" else args.lrs
    own = own_values(sweep, folders)
    swept = {float(v): v for v in [*own.values(), *values]}  # a value given keeps its spelling: it names runs
    settings = []
    for x in sorted(swept):
        demos = [LABEL[m] for m, v in own.items() if float(v) == x]
        mark = "" if not demos else " (the demo)" if len(demos) == len(own) else f" ({' and '.join(demos)}'s demo)"
        settings.append((swept[x] + mark, f"{sweep}{swept[x]}", x))
    return settings


SWEPT_KEY = {"kl": ("method", "beta"), "lr": ("training", "learning_rate")}
"""The config key each sweep over a method's own setting changes."""


def own_values(sweep: str, folders: list[Path]) -> dict[str, str]:
    """Per method a sweep of SWEPT_KEY trains, the value its demo run has (read from the run's config.yaml)."""
    return {m: demo_value(folders, f"demo_{m}", *SWEPT_KEY[sweep]) for m in METHODS_OF[sweep]}


def demo_points(sweep: str, folders: list[Path], settings: list[tuple[str, str, float]]) -> dict[str, str]:
    """Per method, the key suffix of the setting that is its demo run ("" unless the sweep is over SWEPT_KEY)."""
    if sweep not in SWEPT_KEY:
        return dict.fromkeys(METHODS_OF[sweep], "")
    own = own_values(sweep, folders)
    return {m: next((s for _, s, x in settings if x == float(own[m])), "") for m in METHODS_OF[sweep]}


def sweep_table(
    sweep: str, folders: list[Path], settings: list[tuple[str, str, float]], habit: str
) -> tuple[list[str], dict]:
    """The table's lines (a row per setting and method) and, per method, [(setting's x, pass@1 level)] for the
    figure. Changes are paired within each seed: against the method's own run at the demo's setting, against SFT
    (at the same setting where SFT is swept, else the demo's) and, where GRPO is swept, AIRL against GRPO."""
    methods, against = METHODS_OF[sweep], AGAINST.get(sweep, ("sft",))
    header = ["setting", "method", "pass@1", "Δ vs the demo's setting", "wrong arithmetic", habit.replace("/", ": ")]
    header += [f"Δ vs {LABEL[o]}" for o in against]
    own = demo_points(sweep, folders, settings)

    def key(m: str, suffix: str) -> str:  # a method at its own demo setting is its demo run
        return key_of(m, "" if suffix == own[m] else suffix)

    runs_of = {suffix: {m: [load(f, key(m, suffix)) for f in folders] for m in methods} for _, suffix, _ in settings}
    demo = {m: runs_of[own[m]][m] for m in methods}

    def change(runs: list, other: list) -> str:
        return change_cell(paired_change([(per_problem(a), per_problem(b)) for a, b in zip(runs, other)]))

    rows, points = [], {m: [] for m in methods}
    for label, suffix, x in settings:
        for m, runs in runs_of[suffix].items():
            if any(r is None for r in runs):
                rows.append([label, LABEL[m], *["not run or failed"] * (len(header) - 2)])
                continue
            points[m].append((x, level([per_problem(r) for r in runs])))
            row = [label, LABEL[m], level_cell([per_problem(r) for r in runs])]
            row.append(change(runs, demo[m]) if suffix != own[m] and all(r is not None for r in demo[m]) else "")
            row += [cell(*(shares(r, what, habit) for r in runs)) for what in ("wrong arithmetic", habit)]
            for o in against:
                swept = o in methods
                other = runs_of[suffix][o] if swept else [load(f, o) for f in folders]
                later = not swept or methods.index(m) > methods.index(o)
                row.append(change(runs, other) if later and all(r is not None for r in other) else "")
            rows.append(row)
    return markdown_table(header, rows), points


def key_of(method: str, suffix: str) -> str:
    """The eval folder of a method at a setting ("" = the demo's: its own run, or the sweep's run without a setting)."""
    if suffix:
        return f"sweep_{method}_{suffix}"
    return method if method in DEMO_RUNS else f"sweep_{method}"


def early_steps(folders: list[Path], settings: list[tuple[str, str, float]]) -> str:
    """The update each early-stopped SFT run stopped at, per setting over the seeds (from its config.yaml)."""
    parts = []
    for label, suffix, _ in settings:
        found = []
        for f in folders:
            config = f / f"{key_of('sft_early', suffix)}-s{seed_of(f)}" / "config.yaml"
            found.append(str(yaml.safe_load(config.read_text())["training"]["max_steps"]) if config.is_file() else "–")
        parts.append(f"{label}: {' / '.join(found)}")
    return "SFT stopped early at its best held-out update (per seed): " + "; ".join(parts) + "."


def reference_line(folders: list[Path], habit: str) -> str:
    """The demo's untrained habit base and its SFT, as every table's reference."""
    parts = []
    for m in ("base", "sft"):
        runs = [load(f, m) for f in folders]
        parts.append(
            f"{LABEL[m]} pass@1 {level_cell([per_problem(r) for r in runs])}, wrong arithmetic "
            f"{cell(*(shares(r, 'wrong arithmetic', habit) for r in runs))}, habit {cell(*(shares(r, habit, habit) for r in runs))}"
        )
    return "The demo's own runs: " + "; ".join(parts) + " (shares of the samples at T = 1)."


def longer_table(folders: list[Path], habit: str, steps: int) -> list[str]:
    """The demo's four policies on problems of ``steps`` steps, one more than any training problem."""
    got = {m: [load(f, f"sweep_longer_{m}") for f in folders] for m in DEMO_RUNS}
    header = [
        "method",
        "pass@1",
        "greedy",
        f"fewer than {steps} equations",
        "wrong arithmetic",
        habit.replace("/", ": "),
    ]
    header += ["Δ pass@1 vs base", "Δ pass@1 vs SFT"]
    rows = []
    for m, runs in got.items():
        if any(r is None for r in runs):
            rows.append([LABEL[m], *["not run or failed"] * (len(header) - 1)])
            continue
        samples = [[r for r in rs if not r.get("greedy")] for rs in runs]
        greedy = [{"value": statistics.mean(r["correct"] for r in rs if r.get("greedy"))} for rs in runs]
        short = [{"value": statistics.mean(len(parse_equations(r["completion"])) < steps for r in s)} for s in samples]
        row = [LABEL[m], level_cell([per_problem(r) for r in runs]), cell(*greedy), cell(*short)]
        row += [cell(*(shares(r, what, habit) for r in runs)) for what in ("wrong arithmetic", habit)]
        for other in ("base", "sft"):
            ok = m != other and all(r is not None for r in got[other])
            pairs = [(per_problem(a), per_problem(b)) for a, b in zip(runs, got[other])] if ok else []
            row.append(change_cell(paired_change(pairs)) if ok else "")
        rows.append(row)
    return markdown_table(header, rows)


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("demo_dirs", type=Path, nargs="+", help="one demo folder per seed")
    parser.add_argument("--sweeps", nargs="+", default=["demos", "early", "errors", "style", "kl", "lr", "longer"])
    parser.add_argument("--demo-counts", nargs="*", default=[16, 64, 256], type=int)
    parser.add_argument("--error-rates", nargs="*", default=["0.2", "0.4"])
    parser.add_argument("--styles", nargs="*", default=["compact"])
    parser.add_argument("--betas", nargs="*", default=["0.04", "0.2", "1.0"])
    parser.add_argument("--lrs", nargs="*", default=["2e-4"])
    parser.add_argument("--longer-steps", type=int, default=3, help="steps of the longer held-out problems")
    parser.add_argument("--habit", default="skip_last_step", help="the habit the demo's base was taught")
    parser.add_argument("--figures", type=Path, default=None, help="folder for each sweep's figure (<sweep>_sweep.png)")
    args = parser.parse_args(argv)
    habit = f"habit/{args.habit}"
    folders = args.demo_dirs
    missing = [f"{f}/eval/{m}" for f in folders for m in DEMO_RUNS if load(f, m) is None]
    if missing:
        print(f"error: missing {', '.join(missing)}; run runner_scripts/demo.sh first", file=sys.stderr)
        return 2
    print(f"# When does learning a reward beat imitation? ({len(folders)} seed(s); pass@1 with its 95% CI)\n")
    print(reference_line(folders, habit) + "\n")
    for sweep in args.sweeps:
        if sweep == "longer":
            print("## Held-out problems one step longer than any training problem\n")
            print("\n".join(longer_table(folders, habit, args.longer_steps)) + "\n")
            keys = {"the training length": "{}", f"{args.longer_steps} steps, one more": "sweep_longer_{}"}
            if args.figures and all(load(f, f"sweep_longer_{m}") is not None for f in folders for m in DEMO_RUNS):
                levels = {
                    name: {LABEL[m]: level([per_problem(load(f, key.format(m))) for f in folders]) for m in DEMO_RUNS}
                    for name, key in keys.items()
                }
                print(plot_longer(levels, args.figures) + "\n")
            continue
        if sweep == "early":  # its runs are rows of the demos table
            print(early_steps(folders, settings_of("demos", args, folders)) + "\n")
            continue
        print(f"## Sweep: {sweep}\n")
        settings = settings_of(sweep, args, folders)
        lines, points = sweep_table(sweep, folders, settings, habit)
        print("\n".join(lines) + "\n")
        lines = {LABEL[m]: p for m, p in points.items() if len(p) == len(settings)}  # a line per method fully run
        if args.figures and len(lines) > 1:
            xlabel, log = AXES[sweep]
            labels = [label for label, *_ in settings] if sweep == "style" else None
            swept_sft = "sft" in METHODS_OF[sweep]
            sft = None if swept_sft else ("SFT (the demo's)", level([per_problem(load(f, "sft")) for f in folders]))
            # where SFT and AIRL are both swept along an ordered setting (styles have no order to cross along)
            cross = ("SFT", "AIRL") if swept_sft and sweep != "style" else None
            print(plot_sweep(lines, args.figures, f"{sweep}_sweep", xlabel, log, labels, sft, cross) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
