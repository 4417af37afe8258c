"""Verifiable rewards as TRL-compatible reward functions, by name.

TRL 1.16's ``GRPOTrainer._calculate_rewards`` calls every reward function as
``fn(prompts=..., completions=..., completion_ids=..., **reward_kwargs)`` where ``reward_kwargs``
holds every dataset column except prompt/completion/completion_ids as a list aligned with
``completions`` (e.g. ``answer``, ``options``), plus ``trainer_state``, ``log_extra``,
``log_metric`` (and ``environments`` when set). It needs one float (or ``None``) per completion and
logs each function under its ``__name__``. Completions are strings, or for chat prompts lists of
message dicts (see :func:`~reasoning_irl.rewards.extraction.completion_text`).

Adding a reward: write ``def my_reward(prompts=None, completions=None, completion_ids=None, **kwargs)``
returning ``list[float]``, decorate it with ``@REWARDS.register("my_reward")`` (which also makes its
``__name__`` the registered name), and add one test.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from reasoning_irl.registry import Registry
from reasoning_irl.rewards import format as fmt
from reasoning_irl.rewards.correctness import is_correct
from reasoning_irl.rewards.extraction import completion_text, extract_answer

RewardFn = Callable[..., list[float]]


def _logged_under(name: str, fn: RewardFn) -> RewardFn:
    fn.__name__ = name  # TRL logs a reward function under its __name__
    return fn


REWARDS: Registry[RewardFn] = Registry("reward", entry=_logged_under)


def _texts(completions: Sequence[Any] | None) -> list[str]:
    if completions is None:
        raise ValueError("reward functions need `completions`")
    return [completion_text(c) for c in completions]


def _column(kwargs: dict[str, Any], key: str, n: int, required: bool) -> list[Any]:
    """A dataset column from TRL's kwargs, checked to align with the completions."""
    values = kwargs.get(key)
    if values is None:
        if required:
            raise ValueError(f"this reward needs a dataset column {key!r} (got columns {sorted(kwargs)})")
        return [None] * n
    values = list(values)
    if len(values) != n:
        raise ValueError(f"column {key!r} has {len(values)} values for {n} completions")
    return values


@REWARDS.register("correctness")
def correctness(prompts=None, completions=None, completion_ids=None, **kwargs) -> list[float]:
    """1.0 if the extracted answer matches the ``answer`` column (``options`` for multiple choice)."""
    texts = _texts(completions)
    answers = _column(kwargs, "answer", len(texts), required=True)
    options = _column(kwargs, "options", len(texts), required=False)
    return [
        1.0 if gold is not None and is_correct(extract_answer(text), gold, opts) else 0.0
        for text, gold, opts in zip(texts, answers, options)
    ]


@REWARDS.register("strict_format")
def strict_format(prompts=None, completions=None, completion_ids=None, **kwargs) -> list[float]:
    """Exact ``<think>\\n...\\n</think>\\n<answer>\\n...\\n</answer>`` layout."""
    return [fmt.strict_format(t) for t in _texts(completions)]


@REWARDS.register("soft_format")
def soft_format(prompts=None, completions=None, completion_ids=None, **kwargs) -> list[float]:
    """A think block followed by an answer block anywhere."""
    return [fmt.soft_format(t) for t in _texts(completions)]


@REWARDS.register("tag_count")
def tag_count(prompts=None, completions=None, completion_ids=None, **kwargs) -> list[float]:
    """Partial credit per well-placed tag, minus trailing text."""
    return [fmt.tag_count(t) for t in _texts(completions)]


@REWARDS.register("numeric_answer")
def numeric_answer(prompts=None, completions=None, completion_ids=None, **kwargs) -> list[float]:
    """The answer block holds a plain number."""
    return [fmt.numeric_answer(t) for t in _texts(completions)]


def get_reward_functions(names: Sequence[str] | str) -> list[RewardFn]:
    """Reward functions for ``names`` in order (unknown name -> ``UnknownNameError`` listing the valid ones)."""
    if isinstance(names, str):
        names = [names]
    return [REWARDS.get(name) for name in names]


def score_completions(
    completions: Sequence[Any],
    answers: Sequence[Any],
    options: Sequence[Any] | None = None,
    names: Sequence[str] | None = None,
) -> dict[str, list[float]]:
    """Every named reward (default: all registered) on aligned completions, called the way TRL calls them."""
    names = REWARDS.names() if names is None else list(names)
    completions = list(completions)
    kwargs: dict[str, Any] = {"answer": list(answers)}
    if options is not None:
        kwargs["options"] = list(options)
    return {
        name: [float(r) for r in fn(prompts=None, completions=completions, completion_ids=None, **kwargs)]
        for name, fn in zip(names, get_reward_functions(names))
    }
