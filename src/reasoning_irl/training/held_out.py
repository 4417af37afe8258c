"""Held-out accuracy during training (``training.eval_steps``): the learning curve of every trainer.

Every ``eval_steps`` updates (and once before the first), the policy decodes a fixed slice of the validation
split greedily and, with ``eval_samples`` > 0, samples that many seeded completions per problem at T=1 (top-p
0.95, as evaluate.py). ``held_out/greedy_accuracy``, ``held_out/pass@1`` (the sampled share correct) and
``held_out/<probe>`` for every probe of the dataset (:mod:`reasoning_irl.data.probes`: the share of samples it
flags; of greedy answers when nothing is sampled) are logged to metrics.jsonl and the tracker at that step. A flaw
a model has learned at a rate below one half rarely decides its greedy answer, which is why the rates are read off
samples. The
Trainer's own evaluation schedule triggers it (``eval_strategy="steps"``); :class:`HeldOutEvalMixin` replaces
the Trainer's ``evaluate`` so no evaluation loss loop runs. Every process decodes the whole slice (a few dozen
problems), so all ranks log the same numbers and none waits for another.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Optional

from reasoning_irl.config import ConfigError
from reasoning_irl.data import Probe, dataset_probes, load_split
from reasoning_irl.data.probes import probe_flags
from reasoning_irl.models.generation import sample_hf
from reasoning_irl.rewards import extract_answer, is_correct

PREFIX = "held_out/"


@dataclass
class HeldOutSlice:
    records: list[dict]
    """The first ``training.eval_problems`` validation records (prompt, gold answer, expert target)."""
    max_new_tokens: int
    samples: int = 4
    """Seeded samples per problem at T=1, top-p 0.95 (the same draws at every evaluation)."""
    batch_size: int = 32
    probes: dict[str, Probe] = field(default_factory=dict)
    """The dataset's probes, whose rates are logged beside accuracy."""

    def measure(self, model: Any, tokenizer: Any) -> dict[str, float]:
        """Accuracy and probe rates of ``model`` on the slice (the model's train/eval mode is kept)."""
        was_training = model.training
        model.eval()
        try:
            decoded = sample_hf(
                model,
                tokenizer,
                [r["prompt"] for r in self.records],
                [r["id"] for r in self.records],
                n=self.samples,
                temperature=1.0,
                top_p=0.95,
                max_new_tokens=self.max_new_tokens,
                seed=0,
                batch_size=self.batch_size,
                greedy=True,
                progress=False,
            )
        finally:
            model.train(was_training)

        def text(ids: list[int]) -> str:
            return tokenizer.decode(ids, skip_special_tokens=True)

        greedy = [text(d.greedy) for d in decoded]
        return grade(self.records, greedy, [[text(s) for s in d.samples] for d in decoded], self.probes)


def _tally(record: dict, text: str, flagged: dict[str, int], probes: dict[str, Probe]) -> bool:
    """Whether ``text`` answers ``record`` correctly; counts the probes that flag it into ``flagged``."""
    answer = extract_answer(text)
    for name, flag in probe_flags(probes, record, text, answer).items():
        flagged[name] = flagged.get(name, 0) + flag
    return bool(answer is not None and is_correct(answer, record["answer"], record.get("options")))


def grade(
    records: list[dict],
    greedy: list[str],
    samples: Optional[list[list[str]]] = None,
    probes: Optional[dict[str, Probe]] = None,
) -> dict[str, float]:
    """{held_out/greedy_accuracy, held_out/pass@1 (with samples), held_out/<probe>...}: the share of the samples
    each probe flags when there are samples, else of the greedy answers."""
    probes = probes or {}
    greedy_flagged: dict[str, int] = {}
    correct = sum(_tally(r, t, greedy_flagged, probes) for r, t in zip(records, greedy))
    out = {f"{PREFIX}greedy_accuracy": correct / len(records)}
    flagged, count = greedy_flagged, len(records)
    if samples and any(samples):
        flagged, count = {}, sum(len(s) for s in samples)
        correct = sum(_tally(r, t, flagged, probes) for r, texts in zip(records, samples) for t in texts)
        out[f"{PREFIX}pass@1"] = correct / count
    return {**out, **{f"{PREFIX}{name}": k / count for name, k in sorted(flagged.items())}}


def held_out_records(dataset: Any, training: Any) -> list[dict]:
    """The problems ``training.eval_steps`` decodes ([] when it is off); a validation split without any is refused."""
    if not training.eval_steps:
        return []
    records = load_split(dataset, "validation")[: training.eval_problems]
    if not records:
        raise ConfigError(
            f"training.eval_steps needs validation problems, but the validation split of {dataset.name} is empty: "
            f"set dataset.validation_size > 0, or training.eval_steps=0"
        )
    return records


def held_out_slice(dataset: Any, training: Any, max_new_tokens: int) -> Optional[HeldOutSlice]:
    """The slice ``training.eval_steps`` decodes, or None when it is off."""
    records = held_out_records(dataset, training)
    if not records:
        return None
    max_tokens = training.eval_max_new_tokens or max_new_tokens
    return HeldOutSlice(records, max_tokens, training.eval_samples, probes=dataset_probes(dataset))


class HeldOutEvalMixin:
    """The Trainer's scheduled evaluation, as :meth:`HeldOutSlice.measure` logged at the current step."""

    held_out: Optional[HeldOutSlice] = None

    def evaluate(self, eval_dataset=None, ignore_keys=None, metric_key_prefix: str = "eval") -> dict[str, float]:
        if self.held_out is None:
            return super().evaluate(eval_dataset, ignore_keys, metric_key_prefix)
        start = time.perf_counter()
        model = self.accelerator.unwrap_model(self.model)
        metrics = self.held_out.measure(model, self.processing_class)
        metrics[f"{PREFIX}seconds"] = time.perf_counter() - start
        # Logged in eval mode: TRL's log() then merges (and clears) its empty eval window, not the training one.
        was_training = self.model.training
        self.model.eval()
        try:
            self.log(dict(metrics))
        finally:
            self.model.train(was_training)
        # As the Trainer's own evaluate does: clears should_evaluate, or the end of an epoch (or of training) in
        # the same step would evaluate again.
        self.control = self.callback_handler.on_evaluate(self.args, self.state, self.control, metrics)
        return metrics
