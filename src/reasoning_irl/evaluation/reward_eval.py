"""``run_evaluate_irl(cfg)``: does a token reward model prefer expert traces, and does it find the error?

Each expert trace of the split and K seeded perturbed copies of it (``reasoning_irl.rewards.perturb``:
first corrupted step known, or None when only the answer changed) are scored token by token exactly as
the AIRL trainer scores text (reward tokenizer, end token appended, reward = logit / temperature).

Reported (overall and per perturbation kind):

* ``pairwise_accuracy``: the expert's sequence score above its own perturbed copy (ties 1/2); the
  sequence score is the reward model's training score (``dense``: mean token reward, ``sparse``: last),
  and ``pairwise_accuracy_by_selector`` repeats it for every rerank selector;
* ``token_auroc``: clean tokens (steps before the corrupted one) vs corrupted-step tokens, pooled;
* ``localization``: the lowest-reward step is the first corrupted one (ties split), beside three reward-free
  baselines (``baselines.first_step``, ``.last_step``, ``.uniform``; ``chance`` = the uniform one): perturbations
  hit early steps more often, so "always the first step" is the bar to clear, not 1/steps;
* optionally (``samples_from``) ``samples.auroc[selector]``: sequence scores of correct vs wrong samples.

Every CI is a percentile bootstrap over problems (an expert and its perturbed copies move together).

Files: ``irl_diagnostics.json``, ``irl_diagnostics.md``, ``irl_traces.jsonl`` (one row per trace:
id, trace, kind, first_step, text, tokens, token_spans, token_rewards, steps, step_rewards, score, scores; the
expert row also question and gold).
"""

from __future__ import annotations

import math
import random
from collections import defaultdict
from pathlib import Path
from typing import Any

from reasoning_irl.config import ConfigError
from reasoning_irl.data import load_split, reasoning_steps
from reasoning_irl.evaluation.config import IRLEvalConfig, summary_beside
from reasoning_irl.evaluation.diagnostics import (
    auroc,
    cluster_bootstrap_ci,
    localization_baselines,
    localization_hit,
    step_rewards,
    token_auroc_corrupted,
)
from reasoning_irl.evaluation.grading import question_text
from reasoning_irl.evaluation.job import EvalJob, checked_job, open_job
from reasoning_irl.evaluation.outputs import IRL_REPORT, fmt, markdown_table, write_report
from reasoning_irl.evaluation.reward_scoring import load_scorer
from reasoning_irl.evaluation.selectors import answer_token_span
from reasoning_irl.folder_lock import releases_claims
from reasoning_irl.rewards import perturb
from reasoning_irl.runs import read_jsonl


def encode_text(tokenizer: Any, text: str) -> tuple[list[int], list[str], list[tuple[int, int]]]:
    """(ids with the end token appended, token texts, char spans) of a trace, as the discriminator reads it."""
    enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    ids = list(enc["input_ids"]) + [tokenizer.eos_token_id]
    spans = [(int(s), int(e)) for s, e in enc["offset_mapping"]] + [(len(text), len(text))]
    return ids, [text[s:e] for s, e in spans], spans


def sequence_score(token_rewards: list[float], mode: str) -> float:
    if not token_rewards:
        return 0.0
    return float(token_rewards[-1]) if mode == "sparse" else float(sum(token_rewards) / len(token_rewards))


def build_traces(records: list[dict], typed: IRLEvalConfig) -> list[dict]:
    """Expert trace + up to K perturbed copies per record (seeded per record id)."""

    traces = []
    for record in records:
        rng = random.Random(f"{typed.seed}|{record['id']}")
        traces.append(
            {
                "id": record["id"],
                "trace": 0,
                "kind": "expert",
                "first_step": None,
                "text": record["target"],
                "steps": [list(s) for s in record["steps"]],
                "question": question_text(record),
                "gold": record.get("answer"),
            }
        )
        for k, p in enumerate(
            perturb(record["target"], list(typed.perturbations), rng, typed.perturbations_per_trace), 1
        ):
            traces.append(
                {
                    "id": record["id"],
                    "trace": k,
                    "kind": p.kind,
                    "first_step": p.first_step,
                    "text": p.text,
                    "steps": reasoning_steps(p.text),
                }
            )
    return traces


def _entry(values: list[float], groups: list[str], seed: int) -> dict:
    """Mean with a problem-level bootstrap CI (the traces of one problem are not independent)."""

    v = [math.nan if x is None else float(x) for x in values]
    finite = [x for x in v if not math.isnan(x)]
    lo, hi = cluster_bootstrap_ci(v, groups, seed) if finite else (math.nan, math.nan)
    return {
        "value": sum(finite) / len(finite) if finite else math.nan,
        "ci": [lo, hi],
        "n": len(finite),
        "n_problems": len({g for g, x in zip(groups, v) if not math.isnan(x)}),
    }


def _pair_value(expert: float, perturbed: float) -> float:
    return 1.0 if expert > perturbed else 0.5 if expert == perturbed else 0.0


def diagnostics(traces: list[dict], selectors: list[str], seed: int) -> dict:
    """Pairwise accuracy, pooled token AUROC and localisation of scored traces (see the module doc).

    Localisation comes with three reward-free baselines (first step, last step, uniform guess) on the
    same traces; every CI resamples problems with one seed, so the baselines and the score are paired.
    """

    expert = {t["id"]: t for t in traces if t["kind"] == "expert"}
    perturbed = [t for t in traces if t["kind"] != "expert" and t["id"] in expert]
    ids = [t["id"] for t in perturbed]
    pair = [_pair_value(expert[t["id"]]["score"], t["score"]) for t in perturbed]
    out: dict[str, Any] = {
        "n_perturbed": len(perturbed),
        "pairwise_accuracy": _entry(pair, ids, seed),
        "pairwise_accuracy_by_selector": {},
    }
    for s in selectors:
        vals = [_pair_value(expert[t["id"]]["scores"][s], t["scores"][s]) for t in perturbed]
        out["pairwise_accuracy_by_selector"][s] = _entry(vals, ids, seed)
    clean, corrupted, hits, located = [], [], [], []
    guesses: dict[str, list[float]] = defaultdict(list)
    for t in perturbed:
        fs = t["first_step"]
        if fs is None or not 0 <= fs < len(t["steps"]):
            continue
        bad, good = token_auroc_corrupted(t["token_rewards"], t["token_spans"], t["steps"], fs)
        corrupted += bad
        clean += good
        hits.append(localization_hit(t["step_rewards"], fs))
        located.append(t["id"])
        for name, hit in localization_baselines(fs, len(t["steps"])).items():
            guesses[name].append(hit)
    out["token_auroc"] = {"value": auroc(clean, corrupted), "n_clean": len(clean), "n_corrupted": len(corrupted)}
    baselines = {name: _entry(guesses[name], located, seed) for name in ("first_step", "last_step", "uniform")}
    # "chance" is the uniform guess, kept under its old name for readers of earlier files.
    out["localization"] = {
        **_entry(hits, located, seed),
        "baselines": baselines,
        "chance": baselines["uniform"]["value"],
    }
    return out


def samples_auroc(rows: list[dict], selectors: list[str]) -> dict:
    """AUROC of each selector's sequence score: correct samples vs wrong ones."""

    rows = [r for r in rows if not r.get("greedy")]
    good = [r for r in rows if r["correct"]]
    bad = [r for r in rows if not r["correct"]]
    return {
        "n": len(rows),
        "n_correct": len(good),
        "auroc": {s: auroc([r["scores"][s] for r in good], [r["scores"][s] for r in bad]) for s in selectors},
    }


def text_rewards(
    texts: list[str], prompts: list[list[dict]], model: Any, tokenizer: Any, typed: IRLEvalConfig
) -> tuple[list[tuple], list[list[float]]]:
    """``(encode_text of each text, its token rewards)``: texts scored as the discriminator reads them."""
    encoded = [encode_text(tokenizer, text) for text in texts]
    rewards = typed.token_rewards(model, tokenizer, tokenizer, prompts, [e[0] for e in encoded], typed.progress)
    return encoded, rewards


def scored_by_this_model(samples_from: str, reward_model_path: str) -> bool:
    """Whether the ``scores`` in a samples file came from this reward model: the eval_summary.json beside it names
    the same folder (its path as written, from here). A file reranked by another reward model (say, a policy's
    evaluation reranked by the demo's AIRL reward) is scored again, or its AUROC would be the other model's."""
    try:
        recorded = summary_beside(samples_from).get("reward_model")
        return (
            bool(recorded) and Path(recorded).expanduser().resolve() == Path(reward_model_path).expanduser().resolve()
        )
    except (OSError, ValueError, AttributeError):
        return False


def _score_samples(
    rows: list[dict], records: dict[str, dict], model: Any, tokenizer: Any, typed: IRLEvalConfig, reuse: bool
) -> None:
    """Give rows selector scores from their text, read by the reward tokenizer; with ``reuse``, rows that already
    carry every selector's score (from this reward model) keep them."""

    todo = [
        r
        for r in rows
        if not reuse or not isinstance(r.get("scores"), dict) or any(s not in r["scores"] for s in typed.selectors)
    ]
    if not todo:
        return
    missing = sorted({r["problem_id"] for r in todo} - set(records))
    if missing:
        raise ConfigError(f"samples_from: problems {missing[:3]} are not in this dataset split")
    texts, prompts = [r["completion"] for r in todo], [records[r["problem_id"]]["prompt"] for r in todo]
    encoded, rewards = text_rewards(texts, prompts, model, tokenizer, typed)
    for r, (_, pieces, _), rw in zip(todo, encoded, rewards):
        r["scores"] = typed.sequence_scores(rw, answer_token_span(pieces))


def score_traces(traces: list[dict], records: list[dict], model: Any, tokenizer: Any, typed: IRLEvalConfig) -> None:
    """Fill each trace's tokens, token_spans, token_rewards, step_rewards, score (the reward model's training score)
    and scores (every selector), in place."""
    from tqdm.auto import tqdm

    prompts = {r["id"]: r["prompt"] for r in records}
    encoded, rewards = text_rewards(
        [t["text"] for t in traces], [prompts[t["id"]] for t in traces], model, tokenizer, typed
    )
    for t, (_, pieces, spans), rw in tqdm(
        list(zip(traces, encoded, rewards)), desc="step rewards", unit="trace", disable=not typed.progress
    ):
        t["tokens"], t["token_spans"], t["token_rewards"] = pieces, [list(s) for s in spans], rw
        t["step_rewards"] = step_rewards(rw, spans, t["steps"]) if t["steps"] else []
        t["score"] = sequence_score(rw, model.mode)
        t["scores"] = typed.sequence_scores(rw, answer_token_span(pieces))


def diagnostics_report(job: EvalJob, mode: str, records: list[dict], traces: list[dict]) -> dict:
    """The summary of scored traces: the diagnostics overall and per perturbation kind (see the module doc)."""
    from tqdm.auto import tqdm

    typed = job.typed
    result: dict[str, Any] = {
        "config": job.resolved,
        "reward_model": typed.reward_model_path,
        "dataset": job.dataset.name,
        "split": typed.split,
        "score": "last" if mode == "sparse" else "mean",
        "n_problems": len(records),
        "n_traces": len(traces),
    }
    result.update(diagnostics(traces, typed.selectors, typed.seed))
    by_kind: dict[str, list[dict]] = defaultdict(list)
    for t in traces:
        if t["kind"] != "expert":
            by_kind[t["kind"]].append(t)
    experts = [t for t in traces if t["kind"] == "expert"]
    result["by_kind"] = {
        k: diagnostics(experts + ts, typed.selectors, typed.seed)
        for k, ts in tqdm(sorted(by_kind.items()), desc="diagnostics per kind", unit="kind", disable=not typed.progress)
    }
    for d in result["by_kind"].values():
        d.pop("pairwise_accuracy_by_selector", None)
    result["samples"] = None
    return result


def _markdown(result: dict, title: str) -> str:
    def ci(m: dict) -> str:
        lo, hi = (m.get("ci") or [None, None])[:2]
        return f"[{fmt(lo)}, {fmt(hi)}]"

    kinds = [("all", result), *sorted(result["by_kind"].items())]
    separation = [
        [
            kind,
            d["n_perturbed"],
            fmt(d["pairwise_accuracy"]["value"]),
            ci(d["pairwise_accuracy"]),
            fmt(d["token_auroc"]["value"]),
        ]
        for kind, d in kinds
    ]
    localisation = []
    for kind, d in kinds:
        loc = d["localization"]
        cells = [loc] + [loc["baselines"][b] for b in ("first_step", "last_step", "uniform")]
        localisation.append([kind, loc["n"], *(x for c in cells for x in (fmt(c["value"]), ci(c)))])
    samples = result["samples"]
    selectors = [
        [s, fmt(m["value"]), ci(m), *([fmt(samples["auroc"][s])] if samples else [])]
        for s, m in result["pairwise_accuracy_by_selector"].items()
    ]
    lines = [
        f"# {title}",
        "",
        f"Sequence score: {result['score']} token reward. "
        f"{result['n_problems']} problems, {result['n_perturbed']} perturbed traces. "
        "95% CIs resample problems.",
        "",
        *markdown_table(["kind", "n", "pairwise acc.", "95% CI", "token AUROC"], separation),
        "",
        "First-error localisation (lowest-reward step = first corrupted step) against guesses that ignore the rewards:",
        "",
        *markdown_table(
            ["kind", "n", "localisation", "95% CI", "first step", "95% CI", "last step", "95% CI", "uniform", "95% CI"],
            localisation,
        ),
        "",
        *markdown_table(
            ["selector", "pairwise acc.", "95% CI"] + (["samples AUROC (correct vs wrong)"] if samples else []),
            selectors,
        ),
    ]
    return "\n".join(lines) + "\n"


def check_evaluate_irl(cfg: Any) -> Path:
    """Every check of :func:`run_evaluate_irl` that needs no model (the config and the reward model's files, the
    output folder, the data split, samples_from), writing nothing; returns the output folder. evaluate_irl.py runs it
    before Hydra creates that folder and its log file."""
    typed, dataset, out = checked_job(cfg, IRLEvalConfig, "evaluate_irl")
    load_split(dataset, typed.split)
    if typed.samples_from:
        read_jsonl(typed.samples_from, "samples_from")
    return out


@releases_claims  # the output folder is claimed below, for the evaluation's life
def run_evaluate_irl(cfg: Any) -> Path:
    """Score expert and perturbed traces (and optionally samples); returns the output folder."""
    job = open_job(cfg, IRLEvalConfig, "evaluate_irl")
    typed = job.typed
    all_records = load_split(job.dataset, typed.split)
    records = all_records[: typed.num_problems] if typed.num_problems is not None else all_records
    samples = read_jsonl(typed.samples_from, "samples_from") if typed.samples_from else None  # before the model
    model, tokenizer = load_scorer(typed.reward_model_path, typed.dtype)
    traces = build_traces(records, typed)
    score_traces(traces, records, model, tokenizer, typed)
    result = diagnostics_report(job, model.mode, records, traces)
    if samples is not None:
        reuse = scored_by_this_model(typed.samples_from, typed.reward_model_path)
        _score_samples(samples, {r["id"]: r for r in all_records}, model, tokenizer, typed, reuse)
        result["samples"] = samples_auroc(samples, typed.selectors)
    result["seconds"] = job.seconds()
    table = _markdown(result, f"{typed.reward_model_path} on {job.dataset.name}/{typed.split}")
    return write_report(job.out, IRL_REPORT, traces, result, table)
