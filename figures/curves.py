"""Learning curves: held-out accuracy (and a probe's rate) against policy updates, one line per method.

    python figures/curves.py --run SFT outputs/demo-s0/demo_sft-s0 --run GRPO outputs/demo-s0/demo_grpo-s0 \
        --run AIRL outputs/demo-s0/demo_airl-s0 [--flag habit/skip_last_step] --out outputs/demo-s0/figures

A ``--run LABEL DIR`` may be repeated with one label (one DIR per seed): the line is the mean over seeds, the
band their min-max. Reads the ``held_out/*`` rows ``training.eval_steps`` writes to each run's metrics.jsonl:
pass@1 over the samples (greedy accuracy for runs that sampled none) and the share of samples a probe of the
dataset flags (``held_out/<probe>``, reasoning_irl.data.probes).
Writes learning_curve.png/.pdf; exit 2 when a run folder has no held-out rows.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Optional

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from figures.plots import RC, WIDTH, plt, save  # noqa: E402

ACCURACY = "held_out/greedy_accuracy"
PASS1 = "held_out/pass@1"


def read_curve(run_dir: Path, key: str) -> dict[int, float]:
    """{step: value} of ``key`` in a run's metrics.jsonl (a torn last line is skipped)."""
    curve = {}
    path = Path(run_dir) / "metrics.jsonl"
    for line in path.read_text(encoding="utf-8").splitlines() if path.is_file() else []:
        try:
            row = json.loads(line)
        except ValueError:
            continue
        if isinstance(row.get(key), (int, float)):
            curve[int(row["step"])] = float(row[key])
    return curve


def _mean_band(curves: list[dict[int, float]]) -> tuple[list[int], list[float], list[float], list[float]]:
    steps = sorted(set.intersection(*(set(c) for c in curves)))
    values = [[c[s] for c in curves] for s in steps]
    return steps, [sum(v) / len(v) for v in values], [min(v) for v in values], [max(v) for v in values]


def flag_title(flag: str) -> str:
    """A probe's panel title: 'family rate (name)' for a probe named family/name, else 'name rate'."""
    family, _, name = flag.partition("/")
    return f"{family} rate ({name})" if name else f"{flag} rate"


def learning_curves(runs: dict[str, list[Path]], out: Path, flag: Optional[str] = None) -> list[Path]:
    sampled = all(read_curve(d, PASS1) for dirs in runs.values() for d in dirs)
    accuracy = (PASS1, "held-out pass@1 (T=1)") if sampled else (ACCURACY, "held-out greedy accuracy")
    keys = [accuracy] + ([(f"held_out/{flag}", flag_title(flag))] if flag else [])
    with plt.rc_context(RC):
        fig, axes = plt.subplots(1, len(keys), figsize=(WIDTH, 2.4), squeeze=False)
        for ax, (key, title) in zip(axes[0], keys):
            for label, dirs in runs.items():
                curves = [read_curve(d, key) for d in dirs]
                if not all(curves):
                    continue
                steps, mean, lo, hi = _mean_band(curves)
                (line,) = ax.plot(steps, mean, marker="o", markersize=2.5, label=label)
                if len(dirs) > 1:
                    ax.fill_between(steps, lo, hi, color=line.get_color(), alpha=0.18, linewidth=0)
            ax.set_xlabel("policy updates")
            ax.set_title(title)
            ax.set_ylim(-0.02, 1.02)
        axes[0][0].legend(frameon=False)
        out.mkdir(parents=True, exist_ok=True)
        return save(fig, out, "learning_curve")


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--run",
        nargs=2,
        action="append",
        metavar=("LABEL", "DIR"),
        required=True,
        help="a method's run folder (repeat a label once per seed)",
    )
    parser.add_argument("--flag", default=None, help="also plot this probe's rate (held_out/<probe>)")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    runs: dict[str, list[Path]] = {}
    for label, folder in args.run:
        if not read_curve(Path(folder), ACCURACY):
            print(
                f"error: {folder} has no {ACCURACY} rows in metrics.jsonl (train with training.eval_steps > 0)",
                file=sys.stderr,
            )
            return 2
        runs.setdefault(label, []).append(Path(folder))
    for path in learning_curves(runs, args.out, args.flag):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
