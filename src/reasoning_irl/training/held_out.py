"""Held-out accuracy during training (``training.eval_steps``): the learning curve of every trainer.

Every ``eval_steps`` updates (and once before the first), the policy decodes a fixed slice of the validation
split greedily, and ``held_out/greedy_accuracy`` (with ``held_out/habit/<name>`` on the synthetic task: the
share of those answers showing each habit) is logged to metrics.jsonl and the tracker at that step. The
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
    batch_size: int = 32

    def measure(self, model: Any, tokenizer: Any) -> dict[str, float]:
        """Greedy accuracy and habit rates of ``model`` on the slice (the model's train/eval mode is kept)."""
        was_training = model.training
        model.eval()
        try:
            decoded = sample_hf(model, tokenizer, [r["prompt"] for r in self.records], [r["id"] for r in self.records],
                                n=0, temperature=1.0, top_p=1.0, max_new_tokens=self.max_new_tokens, seed=0,
                                batch_size=self.batch_size, greedy=True, progress=False)
        finally:
            model.train(was_training)
        return grade(self.records, [tokenizer.decode(d.greedy, skip_special_tokens=True) for d in decoded])


def grade(records: list[dict], completions: list[str]) -> dict[str, float]:
    """{held_out/greedy_accuracy, held_out/habit/<name>...} of one completion per record."""
    correct, shown = 0, {}
    for record, text in zip(records, completions):
        answer = extract_answer(text)
        correct += bool(answer is not None and is_correct(answer, record["answer"], record.get("options")))
        for name, flag in (habits_shown(record["target"], text, answer) or {}).items():
            shown[name] = shown.get(name, 0) + flag
    n = max(len(records), 1)
    return {f"{PREFIX}greedy_accuracy": correct / n, **{f"{PREFIX}habit/{h}": k / n for h, k in sorted(shown.items())}}


def held_out_slice(dataset: Any, training: Any, max_new_tokens: int) -> Optional[HeldOutSlice]:
    """The slice ``training.eval_steps`` decodes, or None when it is off."""
    if not training.eval_steps:
        return None
    records = load_split(dataset, "validation")[: training.eval_problems]
    if not records:
        raise ConfigError("training.eval_steps needs validation problems: set dataset.validation_size > 0")
    return HeldOutSlice(records, training.eval_max_new_tokens or max_new_tokens)


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
        return metrics
