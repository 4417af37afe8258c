"""``run_evaluate(cfg)``: sample a policy on a dataset split, grade, optionally score with a token reward
model, and write ``eval_results.jsonl``, ``eval_summary.json`` and ``eval_table.md``.

One row of ``eval_results.jsonl`` per completion::

    problem_id, sample_index (-1 = greedy), greedy, gold, completion, completion_ids, tokens,
    question, extracted_answer, correct, rewards {every registered verifiable reward},
    flags {probe name: flag} (the dataset's probes defined on the problem, :mod:`reasoning_irl.data.probes`),
    and with a reward model: token_rewards, answer_span ([start, end) token indices or null),
    scores {selector: value}

``tokens[t]`` is the decoded text of ``completion_ids[t]`` (``"".join(tokens) == completion``; special
tokens are ""), ``token_rewards[t]`` the reward of that token. ``rescore_from`` re-reads such a file and
redoes grading and reward scoring without sampling. ``search.method`` other than ``none`` runs the
reward-guided search evaluation instead (:mod:`reasoning_irl.evaluation.search_eval`).
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any, Optional

from reasoning_irl.config import ConfigError
from reasoning_irl.data import dataset_probes, load_split
from reasoning_irl.evaluation.config import EvalConfig, rescored_policy
from reasoning_irl.evaluation.grading import grade_rows, score_rows_with_reward_model
from reasoning_irl.evaluation.job import EvalJob, checked_job, first_problems, open_job
from reasoning_irl.evaluation.metrics import ProblemSamples, summarize
from reasoning_irl.evaluation.outputs import EVAL_REPORT, metrics_table, write_report
from reasoning_irl.evaluation.reward_scoring import load_scorer
from reasoning_irl.evaluation.sampling import (
    PolicySpec,
    check_vllm,
    completion_rows,
    is_local_path,
    resolve_policy,
    sample_policy,
)
from reasoning_irl.evaluation.search_eval import run_search_evaluate
from reasoning_irl.folder_lock import releases_claims
from reasoning_irl.models.loading import load_tokenizer
from reasoning_irl.models.scoring import token_texts
from reasoning_irl.runs import read_jsonl


def problems_of(
    rows: list[dict], with_scores: bool, selectors: list[str], options: Optional[dict[str, Any]] = None
) -> list:
    """One ProblemSamples per problem (samples in sample_index order; the greedy row sets greedy_correct).
    ``options``: problem id -> its multiple-choice options, so the votes read answers as the grader does."""

    grouped: dict[str, list[dict]] = defaultdict(list)
    for row in rows:
        grouped[row["problem_id"]].append(row)
    problems = []
    for pid, group in grouped.items():
        samples = sorted((r for r in group if not r["greedy"]), key=lambda r: r["sample_index"])
        greedy = [r for r in group if r["greedy"]]
        scores = {s: [r["scores"][s] for r in samples] for s in selectors} if with_scores else {}
        # A probe counts on a problem only where every sample carries its flag.
        flagged = [r.get("flags") or {} for r in samples]
        names = [name for name in flagged[0] if all(name in f for f in flagged)] if flagged else []
        problems.append(
            ProblemSamples(
                problem_id=pid,
                answers=[r["extracted_answer"] for r in samples],
                correct=[r["correct"] for r in samples],
                greedy_correct=greedy[0]["correct"] if greedy else None,
                scores=scores,
                flags={name: [f[name] for f in flagged] for name in names},
                options=(options or {}).get(pid),
            )
        )
    return problems


def _rescore_rows(typed: EvalConfig, dataset: Any) -> tuple[list[dict], dict[str, dict]]:
    rows = read_jsonl(typed.rescore_from, "rescore_from")
    needed = ("problem_id", "sample_index", "greedy", "completion", "completion_ids")
    for n, row in enumerate(rows, 1):
        missing = [k for k in needed if k not in row]
        if missing:
            raise ConfigError(f"rescore_from: row {n} of {typed.rescore_from} misses {missing}")
    records = {r["id"]: r for r in load_split(dataset, typed.split)}
    unknown = sorted({r["problem_id"] for r in rows} - set(records))
    if unknown:
        raise ConfigError(
            f"rescore_from: problems {unknown[:3]} are not in the {dataset.name} {typed.split} split "
            "(use the dataset settings the file was sampled with)"
        )
    return rows, records


def _policy_for_rescore(typed: EvalConfig) -> Optional[str]:
    """The policy of the rescored file: cfg.policy, else the one recorded in the eval_summary.json beside it."""
    if typed.policy is not None:
        return typed.policy
    recorded = rescored_policy(typed.rescore_from)
    if recorded is not None and is_local_path(recorded) and not Path(recorded).expanduser().exists():
        raise ConfigError(
            f"rescore_from: the policy its eval_summary.json records, {recorded}, does not exist from here or from a "
            "folder above the file; pass policy=<the evaluated policy>"
        )
    return recorded


Completions = tuple[PolicySpec, list[dict], dict[str, dict], Any]
"""``(policy, rows without grades, problem id -> record, policy tokenizer)``."""


def rescored_completions(typed: EvalConfig, dataset: Any) -> Completions:
    """The rows of ``rescore_from``, read again (nothing is sampled)."""
    rows, records = _rescore_rows(typed, dataset)
    spec = resolve_policy(_policy_for_rescore(typed), typed.model, typed.artifacts_dir)
    policy_tokenizer = load_tokenizer(spec.tokenizer or spec.base)
    for row in rows:
        row.setdefault("tokens", token_texts(policy_tokenizer, row["completion_ids"]))
    return spec, rows, records, policy_tokenizer


def sampled_completions(typed: EvalConfig, dataset: Any) -> Completions:
    """The policy sampled on the first ``num_problems`` problems of the split."""
    spec = resolve_policy(typed.policy, typed.model, typed.artifacts_dir)
    records = first_problems(dataset, typed.split, typed.num_problems)
    ids = [r["id"] for r in records]
    sampled, policy_tokenizer = sample_policy(
        spec, [r["prompt"] for r in records], ids, typed.sampling, typed.seed, typed.dtype, typed.progress
    )
    return spec, completion_rows(policy_tokenizer, ids, sampled), {r["id"]: r for r in records}, policy_tokenizer


def summarize_rows(job: EvalJob, spec: PolicySpec, rows: list[dict], records: dict[str, dict]) -> tuple[dict, str]:
    """``(summary, markdown table)`` of graded (and scored) rows: every metric with its bootstrap CI."""
    typed = job.typed
    with_rm = typed.reward_model_path is not None
    problems = problems_of(rows, with_rm, typed.selectors, {pid: r.get("options") for pid, r in records.items()})
    metrics = summarize(problems, typed.ks, typed.selectors if with_rm else [], typed.seed)
    n_samples = min((p.n for p in problems), default=0)
    summary = {
        "config": job.resolved,
        "policy": {"base": spec.base, "adapter": spec.adapter},
        "reward_model": typed.reward_model_path,
        "rescored_from": typed.rescore_from,
        "n_problems": len(problems),
        "n_samples": n_samples,
        "n_rows": len(rows),
        "seconds": job.seconds(),
        "metrics": metrics,
    }
    title = (
        f"{typed.policy or spec.base} on {job.dataset.name}/{typed.split}: {len(problems)} problems x {n_samples} "
        "samples"
    )
    return summary, metrics_table(metrics, title)


def check_evaluate(cfg: Any) -> Path:
    """Every check of :func:`run_evaluate` that needs no model (the config, the output folder, the rescored file,
    the data split, where the policy is), writing nothing (but a project tiny model, built on first use as the run
    would); returns the output folder. evaluate.py runs it before Hydra creates that folder and its log file."""
    typed, dataset, out = checked_job(cfg, EvalConfig, "evaluate")
    if typed.sampling.use_vllm and not typed.rescore_from:
        check_vllm()
    if typed.rescore_from:
        _rescore_rows(typed, dataset)
    else:
        first_problems(dataset, typed.split, typed.num_problems)
    # Last, so that a tiny model is built only once nothing else can refuse.
    resolve_policy(_policy_for_rescore(typed) if typed.rescore_from else typed.policy, typed.model, typed.artifacts_dir)
    return out


@releases_claims  # the output folder is claimed below, for the evaluation's life
def run_evaluate(cfg: Any) -> Path:
    """Evaluate one policy (or rescore a results file); returns the output folder."""
    job = open_job(cfg, EvalConfig, "evaluate")
    typed = job.typed
    if typed.search.method != "none":
        return run_search_evaluate(job)
    completions = rescored_completions if typed.rescore_from else sampled_completions
    spec, rows, records, policy_tokenizer = completions(typed, job.dataset)
    grade_rows(rows, records, dataset_probes(job.dataset))
    if typed.reward_model_path is not None:
        reward_model, reward_tokenizer = load_scorer(typed.reward_model_path, typed.dtype)
        score_rows_with_reward_model(
            rows, records, policy_tokenizer, reward_model, reward_tokenizer, typed, typed.progress
        )
    summary, table = summarize_rows(job, spec, rows, records)
    return write_report(job.out, EVAL_REPORT, rows, summary, table)
