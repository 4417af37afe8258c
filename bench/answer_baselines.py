"""An evaluation's greedy accuracy beside what a weaker grader and an answer-blind guess would score.

    python bench/answer_baselines.py <evaluate.py output folder> [--train ../shared/data/gsm8k/train.jsonl]

From ``eval_results.jsonl`` (the greedy rows): the project's grader (the answer in ``<answer>``, ``\\boxed{}`` or after
``####``), the last number anywhere in the completion graded the same way (the loose reading benchmark harnesses
often use), and the most frequent gold answer of the training file given to every problem (the answer-blind
baseline). Each with its 95% bootstrap CI over problems (the seed of the evaluation's own CIs).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections import Counter
from pathlib import Path

from reasoning_irl.evaluation.metrics import bootstrap_ci
from reasoning_irl.rewards.correctness import is_correct
from reasoning_irl.runs import read_jsonl

NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?")


def last_number(text: str) -> str | None:
    found = NUMBER.findall(text)
    return found[-1].replace(",", "") if found else None


def gold_of(answer: str) -> str:
    """A GSM8K solution's final answer: the text after its ``####``."""
    return answer.rsplit("####", 1)[-1].strip().replace(",", "")


def baselines(rows: list[dict], train_answers: list[str], seed: int = 0) -> dict[str, tuple[float, float, float]]:
    """``{name: (mean, ci low, ci high)}`` over the greedy rows."""
    greedy = [r for r in rows if r["greedy"]]
    constant = Counter(train_answers).most_common(1)[0][0]
    values = {
        "project grader": [float(r["correct"]) for r in greedy],
        "last number in the completion": [float(is_correct(last_number(r["completion"]), r["gold"])) for r in greedy],
        f"the most frequent training answer ({constant}) for every problem": [
            float(is_correct(constant, r["gold"])) for r in greedy
        ],
    }
    return {name: (sum(v) / len(v), *bootstrap_ci(v, seed)) for name, v in values.items()}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("eval_dir", type=Path)
    parser.add_argument("--train", type=Path, default=Path("../shared/data/gsm8k/train.jsonl"))
    args = parser.parse_args(argv)
    results = args.eval_dir / "eval_results.jsonl"
    for path in (results, args.train):
        if not path.is_file():
            print(f"error: {path} does not exist", file=sys.stderr)
            return 2
    rows = read_jsonl(results)
    train = [gold_of(row["answer"]) for row in read_jsonl(args.train)]
    seed = json.loads((args.eval_dir / "eval_summary.json").read_text())["config"].get("seed", 0)
    greedy = sum(r["greedy"] for r in rows)
    print(f"{greedy} problems, greedy completions of {results}")
    for name, (mean, low, high) in baselines(rows, train, seed).items():
        print(f"  {name}: {mean:.4f} [{low:.4f}, {high:.4f}]")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
