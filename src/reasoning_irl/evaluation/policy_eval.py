"""``run_evaluate(cfg)``: sample a policy on a dataset split, grade, optionally score with a token reward
model, and write ``eval_results.jsonl``, ``eval_summary.json`` and ``eval_table.md``.

One row of ``eval_results.jsonl`` per completion::

    problem_id, sample_index (-1 = greedy), greedy, gold, completion, completion_ids, tokens,
    question, extracted_answer, correct, rewards {every registered verifiable reward},
    and with a reward model: token_rewards, answer_span ([start, end) token indices or null),
    scores {selector: value}

``tokens[t]`` is the decoded text of ``completion_ids[t]`` (``"".join(tokens) == completion``; special
tokens are ""), ``token_rewards[t]`` the reward of that token. ``rescore_from`` re-reads such a file and
redoes grading and reward scoring without sampling. ``search.method`` other than ``none`` runs the
reward-guided search evaluation instead (:mod:`reasoning_irl.evaluation.search_eval`).
"""

from __future__ import annotations

import json
import logging
import time
from collections import defaultdict
from pathlib import Path
from typing import Any, Optional

from reasoning_irl.config import ConfigError
from reasoning_irl.data import load_split
from reasoning_irl.evaluation.config import EvalConfig, typed_config
from reasoning_irl.evaluation.grading import grade_rows, score_rows_with_reward_model
from reasoning_irl.evaluation.metrics import ProblemSamples, summarize
from reasoning_irl.evaluation.output_dir import check_output_dir, check_output_folder, claim_output_dir, output_dir_of
from reasoning_irl.evaluation.outputs import RESULTS_FILE, SUMMARY_FILE, TABLE_FILE, metrics_table
from reasoning_irl.evaluation.sampling import check_vllm, load_eval_policy, resolve_policy, sample_hf, sample_vllm
from reasoning_irl.evaluation.search_eval import run_search_evaluate
from reasoning_irl.folder_lock import releases_claims
from reasoning_irl.models.loading import load_tokenizer, resolve_dtype
from reasoning_irl.models.reward_model import load_reward_model
from reasoning_irl.models.scoring import merged_for_inference, token_texts
from reasoning_irl.runs import atomic_write_text, read_jsonl, write_json, write_jsonl

log = logging.getLogger(__name__)
JOB_LOG = "evaluate.log"  # Hydra's log file in the output folder (the script's name)


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
        shown = [r["habits"] for r in samples if "habits" in r]
        habits = {h: [s[h] for s in shown] for h in shown[0]} if shown and len(shown) == len(samples) else {}
        problems.append(
            ProblemSamples(
                problem_id=pid,
                answers=[r["extracted_answer"] for r in samples],
                correct=[r["correct"] for r in samples],
                greedy_correct=greedy[0]["correct"] if greedy else None,
                scores=scores,
                habits=habits,
                options=(options or {}).get(pid),
            )
        )
    return problems


def _records(dataset: Any, split: str, num_problems: Optional[int]) -> list[dict]:
    records = load_split(dataset, split)
    records = records[:num_problems] if num_problems is not None else records
    if not records:
        raise ConfigError(f"the {dataset.name} {split} split has no problems")
    return records


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
    summary = Path(typed.rescore_from).expanduser().parent / SUMMARY_FILE
    if summary.is_file():
        return (json.loads(summary.read_text()).get("config") or {}).get("policy")
    return None


def sample_rows(typed: EvalConfig, spec: Any, records: list[dict]) -> tuple[list[dict], Any]:
    """Sample the policy on records; returns (rows without grades, policy tokenizer)."""

    s = typed.sampling
    prompts, ids = [r["prompt"] for r in records], [r["id"] for r in records]
    if s.use_vllm:
        tokenizer = load_tokenizer(spec.tokenizer or spec.base)
        sampled = sample_vllm(
            spec,
            tokenizer,
            prompts,
            ids,
            s.num_samples,
            s.temperature,
            s.top_p,
            s.new_tokens,
            typed.seed,
            s.greedy,
            s.vllm_gpu_memory_utilization,
        )
    else:
        model, tokenizer = load_eval_policy(spec, typed.dtype)
        sampled = sample_hf(
            model,
            tokenizer,
            prompts,
            ids,
            s.num_samples,
            s.temperature,
            s.top_p,
            s.new_tokens,
            typed.seed,
            s.batch_size,
            s.greedy,
            typed.progress,
        )
        del model
    rows = []
    for record, got in zip(records, sampled):
        items = ([(-1, got.greedy)] if got.greedy is not None else []) + list(enumerate(got.samples))
        for j, completion_ids in items:
            rows.append(
                {
                    "problem_id": record["id"],
                    "sample_index": j,
                    "greedy": j < 0,
                    "completion": tokenizer.decode(completion_ids, skip_special_tokens=True),
                    "completion_ids": [int(t) for t in completion_ids],
                    "tokens": token_texts(tokenizer, completion_ids),
                }
            )
    return rows, tokenizer


def check_evaluate(cfg: Any) -> Path:
    """Every check of :func:`run_evaluate` that needs no model (the config, the output folder, the rescored file,
    the data split, where the policy is), writing nothing (but a project tiny model, built on first use as the run
    would); returns the output folder. evaluate.py runs it before Hydra creates that folder and its log file."""
    typed, dataset, _ = typed_config(cfg, EvalConfig, announce=False)
    out = output_dir_of(typed, "evaluate")
    check_output_folder(out, {"rescore_from": typed.rescore_from}, typed.overwrite, JOB_LOG)
    if typed.sampling.use_vllm and not typed.rescore_from:
        check_vllm()
    if typed.rescore_from:
        _rescore_rows(typed, dataset)
    else:
        _records(dataset, typed.split, typed.num_problems)
    # Last, so that a tiny model is built only once nothing else can refuse.
    resolve_policy(_policy_for_rescore(typed) if typed.rescore_from else typed.policy, typed.model, typed.artifacts_dir)
    return out


@releases_claims  # the output folder is claimed below, for the evaluation's life
def run_evaluate(cfg: Any) -> Path:
    """Evaluate one policy (or rescore a results file); returns the output folder."""
    typed, dataset, resolved = typed_config(cfg, EvalConfig)
    out = output_dir_of(typed, "evaluate")
    check_output_dir(out, {"rescore_from": typed.rescore_from}, typed.overwrite, JOB_LOG)
    claim_output_dir(out)
    start = time.time()

    if typed.rescore_from:
        rows, records = _rescore_rows(typed, dataset)
        spec = resolve_policy(_policy_for_rescore(typed), typed.model, typed.artifacts_dir)
        policy_tokenizer = load_tokenizer(spec.tokenizer or spec.base)

        for row in rows:
            row.setdefault("tokens", token_texts(policy_tokenizer, row["completion_ids"]))
    else:
        spec = resolve_policy(typed.policy, typed.model, typed.artifacts_dir)
        record_list = _records(dataset, typed.split, typed.num_problems)
        if typed.search.method != "none":
            return run_search_evaluate(typed, dataset, resolved, record_list, spec, out, start)
        rows, policy_tokenizer = sample_rows(typed, spec, record_list)
        records = {r["id"]: r for r in record_list}
    grade_rows(rows, records)
    with_rm = typed.reward_model_path is not None
    if with_rm:
        import torch

        reward_model, reward_tokenizer = load_reward_model(typed.reward_model_path, dtype=resolve_dtype(typed.dtype))

        merged_for_inference(reward_model).to("cuda" if torch.cuda.is_available() else "cpu")
        score_rows_with_reward_model(rows, records, policy_tokenizer, reward_model, reward_tokenizer, typed)

    problems = problems_of(rows, with_rm, typed.selectors, {pid: r.get("options") for pid, r in records.items()})
    metrics = summarize(problems, typed.ks, typed.selectors if with_rm else [], typed.seed)
    out.mkdir(parents=True, exist_ok=True)
    n_samples = min((p.n for p in problems), default=0)
    write_jsonl(out / RESULTS_FILE, rows)
    summary = {
        "config": resolved,
        "policy": {"base": spec.base, "adapter": spec.adapter},
        "reward_model": typed.reward_model_path,
        "rescored_from": typed.rescore_from,
        "n_problems": len(problems),
        "n_samples": n_samples,
        "n_rows": len(rows),
        "seconds": round(time.time() - start, 2),
        "metrics": metrics,
    }
    write_json(out / SUMMARY_FILE, summary)
    title = (
        f"{typed.policy or spec.base} on {dataset.name}/{typed.split}: {len(problems)} problems x {n_samples} samples"
    )
    atomic_write_text(out / TABLE_FILE, metrics_table(metrics, title))
    log.info("wrote %s", out)
    return out
