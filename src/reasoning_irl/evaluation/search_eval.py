"""``evaluate.py search.method=beam|dvts|best_of_n``: reward-guided search against best-of-N reranking and plain
sampling at a matched generated-token budget.

Per problem the policy samples ``sampling.num_samples`` (N) whole solutions (the baselines) and, for ``beam`` /
``dvts``, runs the step-level search of :mod:`reasoning_irl.evaluation.search` with the reward model.
Every generated token is counted: the search counts all expansions (pruned ones too), best-of-n the n samples.
The compared budget is matched on the mean over problems: n is the sample count whose mean budget is closest
to the search's (ties: the smaller n; capped at N, which the table then says). At that n:

* ``best_of_n@n``: the sample of the first n with the highest score (the search's own score rule over whole
  solutions, split into lines the same way), ties to the earlier sample;
* ``majority@n``: majority vote of the first n answers (plain sampling spending the same budget);
* ``sampling@1``: expected accuracy of one plain sample (its own, smaller, budget).

Accuracy is the verifiable grader's (``rewards.is_correct``); each metric has a bootstrap CI over problems
(the same seed for all, so the comparison is paired). Sampling is seeded per problem and request
(:func:`reasoning_irl.models.generation.row_seed`), so a CPU run is reproducible.

Rows of ``eval_results.jsonl``: one per sample (``method: "sample"``, with ``search_score``) and, for a tree
search, one per problem (``method: "beam"|"dvts"``) with ``steps`` (the text of each line),
``step_lengths`` (tokens of each line), ``generated_tokens``, ``score``, ``finished`` and ``n_returned``.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Optional

import numpy as np
import torch

from reasoning_irl.data import Probe, dataset_probes
from reasoning_irl.data.prompts import render_prompt
from reasoning_irl.evaluation.config import EvalConfig
from reasoning_irl.evaluation.grading import grade_rows, score_rows_with_reward_model
from reasoning_irl.evaluation.job import EvalJob, first_problems
from reasoning_irl.evaluation.metrics import bootstrap_ci, maj_at_k
from reasoning_irl.evaluation.outputs import EVAL_REPORT, fmt, markdown_table, write_report
from reasoning_irl.evaluation.reward_scoring import load_scorer
from reasoning_irl.evaluation.sampling import completion_rows, load_eval_policy, resolve_policy, sample_with_model
from reasoning_irl.evaluation.search import TREE_METHODS, Expansion, Step, node_score, run_search
from reasoning_irl.models.generation import PerRowSampler, eos_ids, row_seed
from reasoning_irl.models.loading import padding_id
from reasoning_irl.models.scoring import token_texts
from reasoning_irl.rewards.extraction import last_answer_span


def newline_ids(tokenizer: Any) -> set[int]:
    """Ids of the tokens whose text holds a newline: the end of a step."""
    size = len(tokenizer)
    texts = tokenizer.batch_decode([[i] for i in range(size)], skip_special_tokens=False)
    return {i for i, text in enumerate(texts) if "\n" in text}


def split_steps(ids: Sequence[int], breaks: set[int]) -> list[list[int]]:
    """Lines of a completion: each step ends after a newline token (the last one may not)."""
    steps, current = [], []
    for t in ids:
        current.append(int(t))
        if t in breaks:
            steps.append(current)
            current = []
    return steps + ([current] if current else [])


class _StopAtStep:
    """Stopping criterion: a row is done once its newest token ends a line or the solution."""

    def __init__(self, stop_ids: set[int], device: Any):
        self.stop = torch.tensor(sorted(stop_ids), device=device)

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor, **kwargs: Any) -> torch.Tensor:
        return torch.isin(input_ids[:, -1], self.stop)


class StepGenerator:
    """The policy's next step for a batch of :class:`Expansion` requests (HF generate, left padding, seeded per
    request by ``(seed, problem id, key)``)."""

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        prompts: Sequence[list[dict]],
        problem_ids: Sequence[str],
        sampling: Any,
        seed: int,
    ):

        self.model, self.tokenizer, self.problem_ids, self.sampling, self.seed = (
            model,
            tokenizer,
            problem_ids,
            sampling,
            seed,
        )
        self.encoded = [tokenizer(render_prompt(tokenizer, m), add_special_tokens=False)["input_ids"] for m in prompts]
        self.eos = set(eos_ids(model, tokenizer))
        self.pad = padding_id(tokenizer, min(self.eos))
        self.breaks = newline_ids(tokenizer)

    def finishes(self, ids: Sequence[int]) -> bool:
        """The solution ends: an end token, the answer block closed, or the token limit reached."""

        if ids[-1] in self.eos or len(ids) >= self.sampling.new_tokens:
            return True
        return last_answer_span(self.tokenizer.decode(list(ids), skip_special_tokens=True)) is not None

    @torch.inference_mode()
    def __call__(self, requests: list[Expansion]) -> list[Step]:
        from transformers import GenerationConfig, LogitsProcessorList, StoppingCriteriaList

        device = next(self.model.parameters()).device
        stop = self.breaks | self.eos
        out: list[Optional[Step]] = [None] * len(requests)
        # Longest inputs first, as in sampling: less padding per batch.
        order = sorted(
            range(len(requests)), key=lambda i: -(len(self.encoded[requests[i].problem]) + len(requests[i].prefix))
        )
        size = self.sampling.batch_size
        for b in range(0, len(order), size):
            chunk = [requests[i] for i in order[b : b + size]]
            inputs = [self.encoded[r.problem] + list(r.prefix) for r in chunk]
            room = [self.sampling.new_tokens - len(r.prefix) for r in chunk]
            width = max(map(len, inputs))
            ids = torch.full((len(chunk), width), self.pad, dtype=torch.long)
            mask = torch.zeros((len(chunk), width), dtype=torch.long)
            for k, row in enumerate(inputs):
                ids[k, width - len(row) :] = torch.tensor(row, dtype=torch.long)
                mask[k, width - len(row) :] = 1
            gens = [
                torch.Generator().manual_seed(row_seed(self.seed, f"{self.problem_ids[r.problem]}|{r.key}", 0))
                for r in chunk
            ]
            cfg = GenerationConfig(
                max_new_tokens=max(room),
                do_sample=False,
                num_beams=1,
                eos_token_id=sorted(self.eos),
                pad_token_id=self.pad,
                use_cache=True,
            )
            gen = self.model.generate(
                input_ids=ids.to(device),
                attention_mask=mask.to(device),
                generation_config=cfg,
                logits_processor=LogitsProcessorList(
                    [PerRowSampler(gens, self.sampling.temperature, self.sampling.top_p)]
                ),
                stopping_criteria=StoppingCriteriaList([_StopAtStep(stop, device)]),
            )
            for k, (i, r) in enumerate(zip(order[b : b + size], chunk)):
                new = gen[k, width:].tolist()[: room[k]]  # a row past its own token limit is cut there
                end = next((j + 1 for j, t in enumerate(new) if t in stop), len(new))
                step = tuple(int(t) for t in new[:end])
                out[i] = Step(ids=step, finished=self.finishes(list(r.prefix) + list(step)))
        return out  # type: ignore[return-value]


def _bon_pick(scores: Sequence[float], n: int) -> int:
    return int(np.argmax(np.asarray(scores[:n], dtype=np.float64)))  # first of equal maxima


def matched_n(sample_lengths: list[list[int]], budget: float) -> tuple[int, bool]:
    """(n, capped): the sample count whose mean budget over problems is closest to ``budget`` (ties: smaller n);
    capped when even all N samples spend less than ``budget``."""
    n_max = min(map(len, sample_lengths))
    means = [float(np.mean([sum(lengths[:n]) for lengths in sample_lengths])) for n in range(1, n_max + 1)]
    n = 1 + int(np.argmin([abs(m - budget) for m in means]))
    return n, n == n_max and means[-1] < budget


def _metric(values: list[float], seed: int) -> dict:

    lo, hi = bootstrap_ci(values, seed)
    return {"value": float(np.mean(values)), "ci": [lo, hi], "n": len(values)}


def compare(samples: dict[str, list[dict]], searched: Optional[dict[str, dict]], method: str, seed: int) -> dict:
    """The compute-matched comparison: {"matched_n", "capped", "budget": {name: mean tokens}, "metrics",
    "per_problem": {name: one value per problem, in ``samples``' order}} (the last for paired comparisons)."""

    pids = list(samples)
    lengths = [[len(r["completion_ids"]) for r in samples[p]] for p in pids]
    n_max = min(map(len, lengths))
    if searched is not None:
        search_budget = float(np.mean([searched[p]["generated_tokens"] for p in pids]))
        n, capped = matched_n(lengths, search_budget)
    else:
        n, capped = n_max, False
    values: dict[str, list[float]] = {}
    budget: dict[str, float] = {}
    if searched is not None:
        values[method] = [float(searched[p]["correct"]) for p in pids]
        budget[method] = search_budget
    ns = [n] + ([n_max] if n != n_max else [])
    for k in ns:
        values[f"best_of_n@{k}"] = [
            float(samples[p][_bon_pick([r["search_score"] for r in samples[p]], k)]["correct"]) for p in pids
        ]
        values[f"majority@{k}"] = [
            maj_at_k([r["extracted_answer"] for r in samples[p]], [r["correct"] for r in samples[p]], k) for p in pids
        ]
        budget[f"best_of_n@{k}"] = budget[f"majority@{k}"] = float(np.mean([sum(ls[:k]) for ls in lengths]))
    values["sampling@1"] = [float(np.mean([r["correct"] for r in samples[p][:n]])) for p in pids]
    budget["sampling@1"] = float(np.mean([np.mean(ls[:n]) for ls in lengths]))
    return {
        "matched_n": n,
        "capped": capped,
        "budget": budget,
        "metrics": {name: _metric(v, seed) for name, v in values.items()},
        "per_problem": values,
    }


def comparison_table(result: dict, title: str) -> str:

    rows = [
        [name, fmt(result["budget"][name], 1), fmt(m["value"]), f"[{fmt(m['ci'][0])}, {fmt(m['ci'][1])}]", m["n"]]
        for name, m in result["metrics"].items()
    ]
    header = ["method", "generated tokens / problem", "accuracy", "95% CI", "n"]
    note = (
        f"\nBudget-matched baselines use n = {result['matched_n']} samples"
        + (" (capped at sampling.num_samples: the search spent more)" if result["capped"] else "")
        + ".\n"
    )
    return "\n".join([f"# {title}", "", *markdown_table(header, rows)]) + "\n" + note


def sampled_rows(
    generator: StepGenerator, records: list[dict], reward: tuple[Any, Any], typed: EvalConfig, probes: dict[str, Probe]
) -> list[dict]:
    """The baselines: N whole samples per problem (no greedy one), graded, scored, and each given the search's own
    score (``search_score``)."""
    sampling = dataclasses.replace(typed.sampling, greedy=False)
    prompts, pids = [r["prompt"] for r in records], generator.problem_ids
    sampled = sample_with_model(
        generator.model, generator.tokenizer, prompts, pids, sampling, typed.seed, typed.progress
    )
    rows = [
        {"problem_id": r["problem_id"], "method": "sample", **r}
        for r in completion_rows(generator.tokenizer, pids, sampled)
    ]
    by_id = {r["id"]: r for r in records}
    grade_rows(rows, by_id, probes)
    score_rows_with_reward_model(rows, by_id, generator.tokenizer, *reward, typed, typed.progress)
    for row in rows:
        steps = split_steps(row["completion_ids"], generator.breaks)
        row["search_score"] = node_score(
            row["token_rewards"], len(steps[-1]) if steps else 0, typed.search, typed.gamma
        )
    return rows


def searched_rows(
    generator: StepGenerator, records: list[dict], reward: tuple[Any, Any], typed: EvalConfig, probes: dict[str, Probe]
) -> list[dict]:
    """One row per problem: the best solution the tree search returned, graded."""
    tokenizer, prompts = generator.tokenizer, [r["prompt"] for r in records]

    def score(items: list[tuple[int, tuple[int, ...]]]) -> list[list[float]]:
        return typed.token_rewards(*reward, tokenizer, [prompts[p] for p, _ in items], [list(ids) for _, ids in items])

    results = run_search(len(records), generator, score, typed.search, typed.gamma)
    rows = []
    for pid, res in zip(generator.problem_ids, results):
        ids = list(res.best.ids)
        rows.append(
            {
                "problem_id": pid,
                "method": typed.search.method,
                "completion": tokenizer.decode(ids, skip_special_tokens=True),
                "completion_ids": ids,
                "tokens": token_texts(tokenizer, ids),
                "steps": [tokenizer.decode(list(step), skip_special_tokens=True) for step in res.best.steps],
                "step_lengths": [len(step) for step in res.best.steps],
                "token_rewards": list(res.best.rewards),
                "score": res.best.score,
                "finished": res.best.finished,
                "generated_tokens": res.generated_tokens,
                "search_steps": res.steps,
                "n_returned": len(res.done),
            }
        )
    grade_rows(rows, {r["id"]: r for r in records}, probes)
    return rows


def search_summary(job: EvalJob, spec: Any, records: list[dict], rows: list[dict], result: dict) -> tuple[dict, str]:
    """``(summary, markdown table)`` of the compute-matched comparison."""
    typed, search = job.typed, job.typed.search
    summary = {
        "config": job.resolved,
        "policy": {"base": spec.base, "adapter": spec.adapter},
        "reward_model": typed.reward_model_path,
        "n_problems": len(records),
        "n_samples": typed.sampling.num_samples,
        "n_rows": len(rows),
        "seconds": job.seconds(),
        "search": {
            "method": search.method,
            "beam_width": search.beam_width,
            "expansions_per_step": search.expansions_per_step,
            "max_steps": search.max_steps,
            "score": search.score,
            "score_scope": search.score_scope,
            "matched_n": result["matched_n"],
            "capped": result["capped"],
            "generated_tokens": result["budget"],
        },
        "metrics": result["metrics"],
    }
    title = (
        f"{typed.policy or spec.base} on {job.dataset.name}/{typed.split}: {len(records)} problems, "
        f"{search.method} (score {search.score} over {search.score_scope}) vs {typed.sampling.num_samples} samples"
    )
    return summary, comparison_table(result, title)


def run_search_evaluate(job: EvalJob) -> Path:
    """The search evaluation of an evaluate.py job (see the module doc); writes its report into the job's folder."""
    typed = job.typed
    spec = resolve_policy(typed.policy, typed.model, typed.artifacts_dir)
    records = first_problems(job.dataset, typed.split, typed.num_problems)
    model, tokenizer = load_eval_policy(spec, typed.dtype)
    reward = load_scorer(typed.reward_model_path, typed.dtype, next(model.parameters()).device)
    generator = StepGenerator(
        model, tokenizer, [r["prompt"] for r in records], [r["id"] for r in records], typed.sampling, typed.seed
    )
    probes = dataset_probes(job.dataset)
    rows = sampled_rows(generator, records, reward, typed, probes)
    tree = typed.search.method in TREE_METHODS
    searched = searched_rows(generator, records, reward, typed, probes) if tree else None
    by_problem: dict[str, list[dict]] = defaultdict(list)
    for row in rows:
        by_problem[row["problem_id"]].append(row)
    samples = {pid: by_problem[pid] for pid in generator.problem_ids}
    method = typed.search.method if searched is not None else "best_of_n"
    result = compare(samples, None if searched is None else {r["problem_id"]: r for r in searched}, method, typed.seed)
    rows += searched or []
    summary, table = search_summary(job, spec, records, rows, result)
    return write_report(job.out, EVAL_REPORT, rows, summary, table)
