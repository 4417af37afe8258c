"""The embedded default task: seeded multi-step arithmetic word problems with exact expert solutions.

Each problem starts from a quantity and applies 1-4 one-operation steps phrased in English; the
expert target writes one equation per line (``12 + 5 = 17``) and the final value as the answer.
The defaults (two steps of + or - on numbers up to 20, operands up to 10) are what a ~1M-parameter
model learns to 20-50% greedy accuracy in a few minutes of CPU training (docs/RESULTS.md); harder
settings are one config key away.
Train and test never share a problem: two problems are the same when they start from the same
number and apply the same operations, whatever the wording.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any, Optional

from reasoning_irl.data.arithmetic import OPERATIONS, Problem, apply_operation
from reasoning_irl.data.base import DATASETS, DatasetConfig, raise_config
from reasoning_irl.data.habits import HABITS, habit_probes
from reasoning_irl.data.schema import make_record

_NAMES = [
    ("Tom", "he"),
    ("Mia", "she"),
    ("Ben", "he"),
    ("Ana", "she"),
    ("Leo", "he"),
    ("Zoe", "she"),
    ("Sam", "he"),
    ("Ivy", "she"),
    ("Max", "he"),
    ("Eva", "she"),
]
_ITEMS = ["apples", "marbles", "stickers", "books", "coins", "shells", "cards", "pencils"]

# A scenario: the opening sentence, phrasings per operation, and the question.
# Fields: {name} {pron} {Pron} {item} {n}.
_SCENARIOS = [
    {
        "start": ["{name} has {n} {item}.", "{name} starts with {n} {item}."],
        "+": ["{Pron} gets {n} more {item}.", "{Pron} finds {n} more {item}.", "A friend gives {name} {n} {item}."],
        "-": ["{Pron} gives away {n} {item}.", "{Pron} loses {n} {item}.", "{Pron} uses {n} {item}."],
        "*": ["Then the number of {item} becomes {n} times as many."],
        "question": "How many {item} does {name} have now?",
    },
    {
        "start": ["A bus has {n} passengers.", "There are {n} people on a bus."],
        "+": ["At the next stop {n} people get on.", "Then {n} more people get on."],
        "-": ["At the next stop {n} people get off.", "Then {n} people get off."],
        "*": ["At a big stop the number of people becomes {n} times as many."],
        "question": "How many people are on the bus now?",
    },
    {
        "start": ["{name} has {n} dollars.", "{name} saved {n} dollars."],
        "+": ["{Pron} earns {n} dollars.", "{Pron} gets {n} dollars as a gift."],
        "-": ["{Pron} spends {n} dollars.", "{Pron} pays {n} dollars for lunch."],
        "*": ["Then {pron} has {n} times as much money."],
        "question": "How many dollars does {name} have now?",
    },
]


@dataclass
class SyntheticConfig(DatasetConfig):
    name: str = "synthetic"
    num_train: int = 2000
    """Training problems (validation is carved from these)."""
    num_test: int = 200
    """Test problems, never equal to a training problem."""
    min_steps: int = 2
    """Fewest operations per problem."""
    max_steps: int = 2
    """Most operations per problem (at most 4)."""
    max_number: int = 20
    """Upper bound of the starting number and of every intermediate result (all stay >= 0)."""
    max_operand: int = 10
    """Upper bound of the number each step adds, subtracts or multiplies by."""
    operations: list[str] = field(default_factory=lambda: ["+", "-"])
    """Operations to draw from: any of +, -, * (multipliers are capped at 5)."""
    habit: Optional[str] = None
    """A registered habit (reasoning_irl.data.habits.HABITS) written into habit_rate of the train targets."""
    habit_rate: float = 0.0
    """Seeded share of source train targets that carry the habit (validation rows are carved from them; test stays clean)."""

    def check(self) -> None:
        super().check()
        if not 1 <= self.min_steps <= self.max_steps <= 4:
            raise_config(f"dataset: need 1 <= min_steps <= max_steps <= 4, got {self.min_steps}..{self.max_steps}")
        bad = [op for op in self.operations if op not in OPERATIONS]
        if bad or not self.operations:
            raise_config(f"dataset.operations must be a non-empty subset of {list(OPERATIONS)}, got {self.operations}")
        if self.max_number < 2 or self.max_operand < 1:
            raise_config("dataset: max_number must be >= 2 and max_operand >= 1")
        if self.num_train < 1 or self.num_test < 0:
            raise_config("dataset: num_train must be >= 1 and num_test >= 0")
        if not 0.0 <= self.habit_rate <= 1.0:
            raise_config(f"dataset.habit_rate must be in [0, 1], got {self.habit_rate}")
        if self.habit is not None and self.habit not in HABITS:
            raise_config(f"dataset.habit: unknown habit {self.habit!r}; choose one of: {', '.join(HABITS.names())}")
        if self.habit_rate > 0 and self.habit is None:
            raise_config("dataset.habit_rate > 0 needs dataset.habit (the habit to write)")


def _draw_problem(rng: random.Random, cfg: SyntheticConfig) -> Problem | None:
    """One random problem, or None if a step could not stay inside [0, max_number]."""
    value = rng.randint(1, cfg.max_number)
    start, steps = value, []
    for _ in range(rng.randint(cfg.min_steps, cfg.max_steps)):
        for _attempt in range(20):
            op = rng.choice(cfg.operations)
            high = min(cfg.max_operand, 5) if op == "*" else cfg.max_operand
            operand = rng.randint(2 if op == "*" else 1, max(high, 2 if op == "*" else 1))
            new = apply_operation(value, op, operand)
            if 0 <= new <= cfg.max_number:
                break
        else:
            return None
        steps.append((op, operand))
        value = new
    return Problem(start, tuple(steps))


def draw_problems(
    n: int, rng: random.Random, cfg: SyntheticConfig, exclude: set[Problem] = frozenset()
) -> list[Problem]:
    """``n`` distinct problems not in ``exclude``; a problem space too small is one clear error."""
    seen: set[Problem] = set()
    out: list[Problem] = []
    attempts = 0
    while len(out) < n:
        attempts += 1
        if attempts > 100 * n + 1000:
            raise_config(
                f"dataset: cannot draw {n} distinct problems with max_number={cfg.max_number}, "
                f"steps {cfg.min_steps}..{cfg.max_steps}, operations {cfg.operations}; widen the ranges"
            )
        problem = _draw_problem(rng, cfg)
        if problem is None or problem in seen or problem in exclude:
            continue
        seen.add(problem)
        out.append(problem)
    return out


def question_text(problem: Problem, rng: random.Random) -> str:
    """The English word problem for ``problem`` (wording drawn from ``rng``)."""
    scenario = rng.choice(_SCENARIOS)
    name, pron = rng.choice(_NAMES)
    fields = {"name": name, "pron": pron, "Pron": pron.capitalize(), "item": rng.choice(_ITEMS)}
    sentences = [rng.choice(scenario["start"]).format(n=problem.start, **fields)]
    for op, operand in problem.steps:
        sentences.append(rng.choice(scenario[op]).format(n=operand, **fields))
    sentences.append(scenario["question"].format(**fields))
    return " ".join(sentences)


def generate_split(cfg: SyntheticConfig, split: str) -> list[tuple[Problem, str]]:
    """(problem, question) pairs of the ``train`` or ``test`` source split, deterministic per seed."""
    test_problems = draw_problems(cfg.num_test, random.Random(f"{cfg.seed}-test"), cfg)
    if split == "test":
        problems, salt = test_problems, "test"
    else:
        problems = draw_problems(cfg.num_train, random.Random(f"{cfg.seed}-train"), cfg, exclude=set(test_problems))
        salt = "train"
    wording = random.Random(f"{cfg.seed}-{salt}-wording")
    return [(p, question_text(p, wording)) for p in problems]


def solution(problem: Problem, rng: random.Random, cfg: SyntheticConfig) -> tuple[list[str], str]:
    """(reasoning lines, answer) of a train target: the habit's flawed one with probability habit_rate
    (when the habit applies to the problem), else the expert's."""
    if cfg.habit is not None and rng.random() < cfg.habit_rate:
        flawed = HABITS.get(cfg.habit).write(problem, rng)
        if flawed is not None:
            return flawed
    return problem.equations(), str(problem.answer)


@DATASETS.register(
    "synthetic",
    config=SyntheticConfig,
    description="embedded seeded multi-step arithmetic word problems",
    probes=habit_probes,
)
def load_synthetic(cfg: SyntheticConfig, split: str) -> list[dict[str, Any]]:
    records = []
    habits = random.Random(f"{cfg.seed}-habit")
    for i, (problem, question) in enumerate(generate_split(cfg, split)):
        lines, answer = (
            solution(problem, habits, cfg) if split == "train" else (problem.equations(), str(problem.answer))
        )
        # "answer" stays the gold answer: graders and rewards never see the habit.
        record = make_record(
            f"synthetic-{split}-{i:05d}",
            question,
            lines,
            answer,
            system_prompt=cfg.system_prompt,
            no_system=cfg.no_system,
        )
        record["answer"] = str(problem.answer)
        records.append(record)
    return records
