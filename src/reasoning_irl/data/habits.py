"""Habits: consistent structural errors a base policy can be taught, for RL to find and fix.

A perturbation (``rewards.perturbations``) is a one-off corruption of one expert trace, a hard negative for
the discriminator. A habit is a *rule* applied to many training targets (``dataset.habit`` at
``dataset.habit_rate``) so that a model fine-tuned on them makes the same mistake on new problems while
keeping its arithmetic. Each habit is two functions over a :class:`~reasoning_irl.data.synthetic.Problem`:

- ``write(problem, rng) -> (reasoning lines, answer) | None``: the flawed solution (None: the habit
  cannot apply to this problem, e.g. skipping the last step of a one-step problem), all randomness from
  ``rng``;
- ``shows(problem, equations, answer) -> bool``: whether a completion, read as its ``a op b = c`` lines
  (:func:`parse_equations`) and its final answer as an integer (None if there is none), shows the habit.
  Every ``shows`` requires a wrong answer, so a correct sample never counts;
- optionally ``locate(equations) -> index | None``: which of a completion's equations the habit shows in, where
  the completion alone tells (a slip: the one line whose result is off by 1-2), so a token reward can be checked
  for pointing at it (:func:`habit_step`). None where it cannot be told: a skipped step has no line, and a
  swapped operator gives a line that is right arithmetic, wrong only against the problem.

On the synthetic task every habit is also a probe (:func:`habit_probes`): evaluations and the held-out curve
report the share of completions showing it as ``habit/<name>``.

Adding one: its ``write`` under ``@HABITS.register("name", shows=..., description=...)`` (``locate=...`` where the
completion tells the step), and a test.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache, partial
from typing import Any, Optional

from reasoning_irl.data.arithmetic import Problem, apply_operation
from reasoning_irl.data.probes import Probe
from reasoning_irl.data.schema import reasoning_steps
from reasoning_irl.registry import Registry, wrapped_in

_EQUATION = re.compile(r"^\s*(-?\d+)\s*([-+*])\s*(-?\d+)\s*=\s*(-?\d+)\s*$")
_MAX_LINE = 200  # longer lines are never equations of this task; skipping them keeps parsing linear
_SWAPPED = {"+": "-", "-": "+", "*": "+"}


@dataclass(frozen=True)
class Equation:
    left: int
    op: str
    operand: int
    result: int

    @property
    def is_right(self) -> bool:
        """Whether ``result`` is what ``left op operand`` gives."""
        return apply_operation(self.left, self.op, self.operand) == self.result


@dataclass(frozen=True)
class Habit:
    write: Callable[[Problem, random.Random], Optional[tuple[list[str], str]]]
    shows: Callable[[Problem, list[Equation], Optional[int]], bool]
    description: str
    locate: Optional[Callable[[list[Equation]], Optional[int]]] = None


HABITS: Registry[Habit] = Registry("habit", entry=wrapped_in(Habit))


def parse_equations(text: str) -> list[Equation]:
    """Every line of ``text`` that reads ``a op b = c`` (integers, op one of + - *), in order."""
    out = []
    for line in text.split("\n"):
        if len(line) <= _MAX_LINE and (m := _EQUATION.match(line)):
            out.append(Equation(int(m.group(1)), m.group(2), int(m.group(3)), int(m.group(4))))
    return out


def problem_from_equations(equations: list[Equation]) -> Optional[Problem]:
    """The problem an expert's correct, chained equations solve; None if they are not such a chain."""
    if not equations or not all(eq.is_right for eq in equations):
        return None
    if any(a.result != b.left for a, b in zip(equations, equations[1:])):
        return None
    return Problem(equations[0].left, tuple((eq.op, eq.operand) for eq in equations))


def _chain(start: int, steps: list[tuple[str, int]], slip_at: int = -1, slip: int = 0) -> Optional[list[str]]:
    """Equation lines from ``start`` through ``steps``; step ``slip_at`` states a result off by ``slip``, which
    later steps carry on from. None if a stated value would go negative (the task never has one)."""
    value, lines = start, []
    for i, (op, operand) in enumerate(steps):
        result = apply_operation(value, op, operand) + (slip if i == slip_at else 0)
        if result < 0:
            return None
        lines.append(f"{value} {op} {operand} = {result}")
        value = result
    return lines


def _answer_of(lines: list[str]) -> str:
    return lines[-1].rsplit("= ", 1)[1]


def _shows_skip_last_step(problem: Problem, equations: list[Equation], answer: Optional[int]) -> bool:
    values = problem.values()
    return len(values) >= 3 and answer is not None and answer == values[-2] != values[-1]


@HABITS.register(
    "skip_last_step",
    shows=_shows_skip_last_step,
    description="stop one step early and answer with the intermediate result",
)
def _write_skip_last_step(problem: Problem, rng: random.Random) -> Optional[tuple[list[str], str]]:
    if len(problem.steps) < 2:
        return None
    lines = problem.equations()[:-1]
    return lines, _answer_of(lines)


def _slipped(eq: Equation) -> bool:
    return 0 < abs(eq.result - apply_operation(eq.left, eq.op, eq.operand)) <= 2


def _shows_slip(problem: Problem, equations: list[Equation], answer: Optional[int]) -> bool:
    if answer is None or answer == problem.answer:
        return False
    return any(_slipped(eq) for eq in equations)


def _locate_slip(equations: list[Equation]) -> Optional[int]:
    return next((i for i, eq in enumerate(equations) if _slipped(eq)), None)


@HABITS.register(
    "slip",
    shows=_shows_slip,
    locate=_locate_slip,
    description="state one intermediate result off by 1-2 and carry it to the answer",
)
def _write_slip(problem: Problem, rng: random.Random) -> Optional[tuple[list[str], str]]:
    # An intermediate result when there is one (the last only for one-step problems), so the slip is carried.
    at = rng.randrange(max(len(problem.steps) - 1, 1))
    size = rng.choice([1, 2])
    for slip in rng.sample([size, -size], 2):
        lines = _chain(problem.start, list(problem.steps), at, slip)
        if lines is not None:
            return lines, _answer_of(lines)
    return None


def _shows_swap_operator(problem: Problem, equations: list[Equation], answer: Optional[int]) -> bool:
    if answer is None or answer == problem.answer:
        return False
    pairs = zip(equations, problem.steps)
    return any(eq.op != op and eq.operand == operand for eq, (op, operand) in pairs)


@HABITS.register(
    "swap_operator",
    shows=_shows_swap_operator,
    description="apply one step with the other operator (+ for -, - for +, + for *)",
)
def _write_swap_operator(problem: Problem, rng: random.Random) -> Optional[tuple[list[str], str]]:
    order = list(range(len(problem.steps)))
    rng.shuffle(order)
    for at in order:
        steps = list(problem.steps)
        op, operand = steps[at]
        steps[at] = (_SWAPPED[op], operand)
        lines = _chain(problem.start, steps)
        if lines is not None and _answer_of(lines) != str(problem.answer):
            return lines, _answer_of(lines)
    return None


@lru_cache(maxsize=4096)
def _problem_of(target: str) -> Optional[Problem]:
    # Every sample of a problem is checked against the same expert target: parse it once.
    return problem_from_equations(parse_equations(target))


def _read(
    target: str, completion: str, answer: Optional[str]
) -> Optional[tuple[Problem, list[Equation], Optional[int]]]:
    """What a habit's ``shows`` reads of a completion; None when ``target`` is not a chain of equations."""
    problem = _problem_of(target)
    if problem is None:
        return None
    value = int(answer.strip()) if answer is not None and re.fullmatch(r"\s*-?\d{1,12}\s*", answer) else None
    return problem, list(_equations_of(completion)), value


@lru_cache(maxsize=64)
def _equations_of(completion: str) -> tuple[Equation, ...]:
    # Each habit's probe reads the same completion in turn (probe_flags): parse it once.
    return tuple(parse_equations(completion))


def habits_shown(target: str, completion: str, answer: Optional[str]) -> Optional[dict[str, bool]]:
    """{habit: shown} for a completion of the problem whose expert solution is ``target``; None when the
    target is not a chain of equations (habits are defined on the synthetic task only)."""
    read = _read(target, completion, answer)
    return None if read is None else {name: HABITS.get(name).shows(*read) for name in HABITS.names()}


def _shows_habit(name: str, record: dict[str, Any], completion: str, answer: Optional[str]) -> Optional[bool]:
    read = _read(record["target"], completion, answer)
    return None if read is None else HABITS.get(name).shows(*read)


def habit_probes(_cfg: Any) -> dict[str, Probe]:
    """The synthetic task's probes (:mod:`reasoning_irl.data.probes`): ``habit/<name>`` for every registered habit,
    whether a completion shows it (not defined on a record whose target is not a chain of equations), with
    :func:`habit_step` as its ``locate`` where the habit has one."""
    return {
        f"habit/{name}": Probe(partial(_shows_habit, name), partial(habit_step, name) if habit.locate else None)
        for name, habit in sorted(HABITS.items())
    }


def habit_step(name: str, completion: str) -> Optional[int]:
    """The reasoning step (an index into ``reasoning_steps(completion)``) that shows habit ``name``, as its
    ``locate`` tells from the completion alone; None when the habit has no ``locate`` or no step shows it.
    Meant for completions that show the habit (its ``habit/<name>`` probe)."""
    habit = HABITS.get(name)
    if habit.locate is None:
        return None
    lines, equations = [], []
    for step, (start, end) in enumerate(reasoning_steps(completion)):
        for eq in parse_equations(completion[start:end]):
            lines.append(step)
            equations.append(eq)
    found = habit.locate(equations)
    return None if found is None else lines[found]
