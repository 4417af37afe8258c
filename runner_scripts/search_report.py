"""Print the test-time table of runner_scripts/demo_search.sh: each learned reward as a reranker and as the guide of
the step-level search, against best-of-N reranking and majority vote at the search's generated-token budget.

    python runner_scripts/search_report.py outputs/demo-s0 [outputs/demo-s1 ...]

Reads <demo>/search/<reward>_<method>/eval_results.jsonl (evaluate.py search.method=<method> with that reward). Per
reward and search method: the search's accuracy and tokens per problem, best-of-n and majority vote at the matched n
(reasoning_irl.evaluation.search_eval.compare), one plain sample, and the paired change of the search against each
(the same problems and sampling seeds; problems resampled within each seed). Then per reward, reranking all N
samples: rerank@1|N against random@1|N (one plain sample) and the oracle (any of the N correct). Over several seeds
every value is the mean over seeds. Then each reward's diagnostics where <demo>/search/<reward>_diagnostics holds them
(as demo_report.py prints the AIRL reward's). Exit 2 when a folder holds no search output.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path
from typing import Optional

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))  # demo_report beside this file

from demo_report import cell, change_cell, irl_lines, paired_change  # noqa: E402

from reasoning_irl.evaluation.outputs import markdown_table  # noqa: E402
from reasoning_irl.evaluation.search_eval import compare  # noqa: E402
from reasoning_irl.runs import read_jsonl  # noqa: E402


def comparison(folder: Path) -> dict:
    """compare() on one search output folder, plus the reranking of all N samples and its oracle, per problem."""
    rows = read_jsonl(folder / "eval_results.jsonl")
    samples: dict[str, list[dict]] = defaultdict(list)
    searched = {}
    for row in rows:
        if row.get("method") == "sample":
            samples[str(row["problem_id"])].append(row)
        else:
            searched[str(row["problem_id"])] = row
    method = next(iter(searched.values()))["method"] if searched else "best_of_n"
    result = compare(dict(samples), searched or None, method, seed=0)
    n_max = min(len(v) for v in samples.values())
    per = result["per_problem"]
    per["rerank@1|N"] = per[f"best_of_n@{n_max}"]  # compare() always scores best-of-n over all N
    per["random@1|N"] = [float(np.mean([r["correct"] for r in v[:n_max]])) for v in samples.values()]
    per["oracle@N"] = [float(any(r["correct"] for r in v[:n_max])) for v in samples.values()]
    result.update(method=method, n_max=n_max, problems=list(samples))
    return result


def as_problems(result: dict, name: str) -> dict[str, float]:
    return dict(zip(result["problems"], result["per_problem"][name]))


def per_seed(results: list[dict], names: str | list[str]) -> list[str]:
    """Each seed's metric name: one name for all, or each seed's own (its matched n may differ by seed)."""
    return [names] * len(results) if isinstance(names, str) else names


def mean_cell(results: list[dict], names: str | list[str]) -> str:
    return cell(*({"value": float(np.mean(r["per_problem"][n]))} for r, n in zip(results, per_seed(results, names))))


def search_table(runs: dict[tuple[str, str], list[dict]]) -> list[str]:
    header = ["reward", "search", "tokens / problem", "n", "search", "best-of-n@n", "majority@n", "1 sample"]
    header += ["search − best-of-n", "search − majority"]
    lines = []
    for (reward, method), results in sorted(runs.items()):
        if results[0]["method"] == "best_of_n":
            continue
        n = results[0]["matched_n"]
        if any(r["matched_n"] != n for r in results):
            n_cell = "/".join(str(r["matched_n"]) for r in results)
        else:
            n_cell = f"{n}{' (capped)' if results[0]['capped'] else ''}"
        bon = [f"best_of_n@{r['matched_n']}" for r in results]
        maj = [f"majority@{r['matched_n']}" for r in results]
        tokens = float(np.mean([r["budget"][method] for r in results]))
        lines.append(
            [
                reward,
                method,
                f"{tokens:.0f}",
                n_cell,
                mean_cell(results, method),
                mean_cell(results, bon),
                mean_cell(results, maj),
                mean_cell(results, "sampling@1"),
                paired_over(results, method, bon),
                paired_over(results, method, maj),
            ]
        )
    return markdown_table(header, lines)


def paired_over(results: list[dict], name: str, against: str | list[str]) -> str:
    """The paired change of ``name`` against each seed's baseline ``against``."""
    pairs = [(as_problems(r, name), as_problems(r, a)) for r, a in zip(results, per_seed(results, against))]
    return change_cell(paired_change(pairs))


def rerank_table(runs: dict[tuple[str, str], list[dict]]) -> list[str]:
    """One row per reward, from its first search output's N samples (each output samples the same N)."""
    header = ["reward", "N", "rerank@1|N", "random@1|N", "oracle@N", "rerank − random"]
    lines, seen = [], set()
    for (reward, _), results in sorted(runs.items()):
        if reward in seen:
            continue
        seen.add(reward)
        lines.append(
            [
                reward,
                str(results[0]["n_max"]),
                mean_cell(results, "rerank@1|N"),
                mean_cell(results, "random@1|N"),
                mean_cell(results, "oracle@N"),
                paired_over(results, "rerank@1|N", "random@1|N"),
            ]
        )
    return markdown_table(header, lines)


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("demo_dirs", type=Path, nargs="+", help="one demo folder, or one per seed")
    args = parser.parse_args(argv)
    runs: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for demo in args.demo_dirs:
        folders = sorted(p.parent for p in (demo / "search").glob("*_*/eval_results.jsonl"))
        if not folders:
            print(
                f"error: no search output in {demo / 'search'} (runner_scripts/demo_search.sh writes it)",
                file=sys.stderr,
            )
            return 2
        for folder in folders:
            reward, method = folder.name.rsplit("_", 1)
            runs[reward, method].append(comparison(folder))
    seeds = len(args.demo_dirs)
    print(f"## Reward-guided search vs best-of-n and majority at the same generated tokens ({seeds} seed(s))\n")
    print("\n".join(search_table(runs)))
    print("\n## Reranking the N samples\n")
    print("\n".join(rerank_table(runs)))
    for reward in sorted({reward for reward, _ in runs}):
        found = [demo / "search" / f"{reward}_diagnostics" / "irl_diagnostics.json" for demo in args.demo_dirs]
        if all(f.is_file() for f in found):
            print(f"\n## The {reward} reward against ground truth (evaluate_irl)\n")
            print("\n".join(irl_lines([json.loads(f.read_text(encoding="utf-8")) for f in found])))
    return 0


if __name__ == "__main__":
    sys.exit(main())
