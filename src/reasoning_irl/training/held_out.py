"""Held-out accuracy during training (``training.eval_steps``): the learning curve of every trainer.

Every ``eval_steps`` updates (and once before the first), the policy decodes a fixed slice of the validation
split greedily and, with ``eval_samples`` > 0, samples that many seeded completions per problem at T=1 (top-p
0.95, as evaluate.py). ``held_out/greedy_accuracy``, ``held_out/pass@1`` (the sampled share correct) and, on the
synthetic task, ``held_out/habit/<name>`` (the share of samples showing each habit; of greedy answers when
nothing is sampled) are logged to metrics.jsonl and the tracker at that step. A habit a model has learned at a
rate below one half rarely decides its greedy answer, which is why the rates are read off samples. The
Trainer's own evaluation schedule triggers it (``eval_strategy="steps"``); :class:`HeldOutEvalMixin` replaces
the Trainer's ``evaluate`` so no evaluation loss loop runs. Every process decodes the whole slice (a few dozen
problems), so all ranks log the same numbers and none waits for another.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Optional

from reasoning_irl.config import ConfigError
from reasoning_irl.data import load_split
from reasoning_irl.data.habits import habits_shown
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

    def measure(self, model: Any, tokenizer: Any) -> dict[str, float]:
        """Accuracy and habit rates of ``model`` on the slice (the model's train/eval mode is kept)."""
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

        return grade(self.records, [text(d.greedy) for d in decoded], [[text(s) for s in d.samples] for d in decoded])


def _tally(record: dict, text: str, shown: dict[str, int]) -> bool:
    """Whether ``text`` answers ``record`` correctly; counts the habits it shows into ``shown``."""
    answer = extract_answer(text)
    for name, flag in (habits_shown(record["target"], text, answer) or {}).items():
        shown[name] = shown.get(name, 0) + flag
    return bool(answer is not None and is_correct(answer, record["answer"], record.get("options")))


def grade(records: list[dict], greedy: list[str], samples: Optional[list[list[str]]] = None) -> dict[str, float]:
    """{held_out/greedy_accuracy, held_out/pass@1 (with samples), held_out/habit/<name>...}: habit rates over the
    samples when there are any, else over the greedy answers."""
    greedy_shown: dict[str, int] = {}
    out = {f"{PREFIX}greedy_accuracy": sum(_tally(r, t, greedy_shown) for r, t in zip(records, greedy)) / len(records)}
    shown, count = greedy_shown, len(records)
    if samples and any(samples):
        shown, count = {}, sum(len(s) for s in samples)
        correct = sum(_tally(r, t, shown) for r, texts in zip(records, samples) for t in texts)
        out[f"{PREFIX}pass@1"] = correct / count
    return {**out, **{f"{PREFIX}habit/{h}": k / count for h, k in sorted(shown.items())}}


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
    return HeldOutSlice(records, training.eval_max_new_tokens or max_new_tokens, training.eval_samples)


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
