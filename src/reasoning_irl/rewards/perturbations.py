"""Hard-negative generators: small corruptions of expert targets for the discriminator.

Each perturbation is ``fn(text, rng) -> Perturbed | None``. It returns ``None`` when it cannot
change ``text`` (it never returns the input unchanged), draws all randomness from ``rng`` and
reports ``first_step``: the 0-based index (in :func:`reasoning_steps` order) of the first
corrupted reasoning line, or ``None`` when only the final answer changed.

Number rule (:data:`NUMBER`): an optionally negative integer or decimal, with optional ``,``
thousands groups (``1,234``, ``-3``, ``3.5``, ``.5``). Digits glued to letters are part of a
word and never touched (``H2O``, ``3rd``, ``x2``, ``2x``), except ``x`` between two numbers,
which is multiplication (``3x4``). A ``-`` counts as a sign only when it is not glued to a
preceding word character (``17-3`` is ``17``, minus, ``3``; ``= -3`` holds ``-3``).
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Optional

from reasoning_irl.data.habits import HABITS, parse_equations, problem_from_equations
from reasoning_irl.data.schema import ANSWER_CLOSE, ANSWER_OPEN, THINK_CLOSE, reasoning_steps
from reasoning_irl.registry import Registry


@dataclass(frozen=True)
class Perturbed:
    text: str
    first_step: Optional[int]  # first corrupted reasoning line; None: only the answer changed
    kind: str  # the perturbation's registry name


PerturbationFn = Callable[[str, random.Random], Optional[Perturbed]]
PERTURBATIONS: Registry[PerturbationFn] = Registry("perturbation")

# Groups: sign, integer part (thousands-grouped, plain, or empty as in ``.5``), decimals. The
# lookbehind keeps digits inside words (and the ``5`` of ``3.5``) out; ``(?<=\dx)`` lets ``3x4``
# hold the number ``4``. The lookaheads reject a word character right after (unless it is ``x``
# + digit) and a half-read decimal (``1.5a`` must not yield ``1``).
NUMBER = re.compile(r"(?:(?<![\w.])|(?<=\dx))(-?)(?=\.?\d)(\d{1,3}(?:,\d{3})+(?!\d)|\d*)(\.\d+)?(?!(?!x\d)\w)(?!\.\d)")
# What may sit between two numbers for the middle to be one binary operator: closing brackets
# or ``%`` after the left operand, then up to three unit words (GSM8K writes ``14 pieces/house *
# 60 houses``), the operator, then opening brackets or ``$``. En dash and U+2212 are minus signs
# (GSM8K uses ``–``). Anything else in between (``=``, a second operator, prose) is no operator.
_WORD = r"[^\W\d_]+(?:['\u2019-][^\W\d_]+)*(?:/[^\W\d_]+)?"
_OPERATOR_GAP = re.compile(rf"[)%]*(?:\s*{_WORD}){{0,3}}\s*([-+*/x\u00d7\u2013\u2212])\s*[($]*")
_OP_CLASS = {"+": "+", "-": "-", "\u2013": "-", "\u2212": "-", "*": "*", "x": "*", "\u00d7": "*", "/": "/"}
_OPERATORS = ("+", "-", "*", "/")
# The answer's own text, without the newlines the target format puts around it.
_ANSWER_BLOCK = re.compile(re.escape(ANSWER_OPEN) + r"\s*(.*?)\s*" + re.escape(ANSWER_CLOSE), re.DOTALL)
# A numeric final answer: one number, optionally with a ``$`` before or ``%`` after.
_NUMERIC_ANSWER = re.compile(r"(\$?)(" + NUMBER.pattern + r")(%?)")


def parse_number(s: str) -> Decimal:
    """Exact value of a :data:`NUMBER` match's text (commas dropped); Decimal so huge or
    decimal numbers shift exactly and ``24`` equals ``24.0``."""
    return Decimal(s.replace(",", ""))


def is_numeric_answer(answer: str) -> bool:
    """Whether ``answer`` is one number, optionally ``$``-prefixed or ``%``-suffixed."""
    return _NUMERIC_ANSWER.fullmatch(answer.strip()) is not None


def _format_like(value: Decimal, like: str) -> str:
    """Write ``value`` the way ``like`` is written: same decimal places, commas if it had any."""
    places = len(like.split(".")[1]) if "." in like else 0
    return f"{value:,.{places}f}" if "," in like else f"{value:.{places}f}"


def _nearby(surface: str, rng: random.Random) -> str:
    """A different number near ``surface``: shift by a random 1..max(2, 10% of |x|) (integer steps).

    The shift is an integer, so integers stay integers and decimals keep their places; a
    non-negative number is shifted upwards when going down would make it negative.
    """
    value = parse_number(surface)
    delta = rng.randint(1, max(2, int(abs(value) / 10)))
    if rng.random() < 0.5 and not (value >= 0 and value - delta < 0):
        delta = -delta
    return _format_like(value + delta, surface)


def _answer_span(text: str) -> tuple[int, int] | None:
    """Character span of the final answer's text (after the think block), or None."""
    close = text.find(THINK_CLOSE)
    match = _ANSWER_BLOCK.search(text, close + len(THINK_CLOSE) if close >= 0 else 0)
    if not match or not match.group(1):
        return None
    return match.start(1), match.end(1)


def _numbers_in_steps(text: str) -> list[tuple[int, re.Match[str]]]:
    """``(step index, match)`` for every number inside the reasoning lines, in text order."""
    found = []
    for step, (start, end) in enumerate(reasoning_steps(text)):
        for match in NUMBER.finditer(text, start, end):
            found.append((step, match))
    return found


def _splice(text: str, start: int, end: int, new: str) -> str:
    return text[:start] + new + text[end:]


@PERTURBATIONS.register("flip_operator")
def flip_operator(text: str, rng: random.Random) -> Perturbed | None:
    """Swap one binary operator between two numbers in one reasoning line for another one.

    ``x`` and ``×`` count as multiplication, so they never become ``*``. The line's stated
    result and the later lines are left as they were.
    """
    by_step: dict[int, list[tuple[int, str]]] = {}
    numbers = _numbers_in_steps(text)
    for (step, left), (step_right, right) in zip(numbers, numbers[1:]):
        if step != step_right:
            continue
        # A sign glued to the right operand after only spaces ("17 -3") is ambiguous; skip it.
        gap = _OPERATOR_GAP.fullmatch(text, left.end(), right.start())
        if gap:
            by_step.setdefault(step, []).append((gap.start(1), gap.group(1)))
    if not by_step:
        return None
    step = rng.choice(sorted(by_step))
    pos, op = rng.choice(by_step[step])
    new_op = rng.choice([o for o in _OPERATORS if o != _OP_CLASS[op]])
    return Perturbed(_splice(text, pos, pos + 1, new_op), step, "flip_operator")


def _replace_answer(text: str, choose: Callable[[str, Decimal], Optional[str]], kind: str) -> Perturbed | None:
    """Shared body of the answer perturbations: ``choose(number_text, value)`` gives the new number."""
    span = _answer_span(text)
    if span is None:
        return None
    match = _NUMERIC_ANSWER.fullmatch(text, *span)
    if match is None:
        return None
    number = match.group(2)
    new = choose(number, parse_number(number))
    if new is None or new == number:
        return None
    return Perturbed(_splice(text, match.start(2), match.end(2), new), None, kind)


@PERTURBATIONS.register("shift_answer")
def shift_answer(text: str, rng: random.Random) -> Perturbed | None:
    """Move a numeric final answer to a nearby different number (see :func:`_nearby`)."""
    return _replace_answer(text, lambda number, value: _nearby(number, rng), "shift_answer")


@PERTURBATIONS.register("swap_answer")
def swap_answer(text: str, rng: random.Random) -> Perturbed | None:
    """Replace a numeric final answer with a different-valued number taken from the reasoning.

    Candidates are distinct spellings, drawn uniformly; a non-numeric answer gives None (a
    number in place of, say, an option letter would be an easy negative, not a hard one).
    """

    def choose(number: str, value: Decimal) -> str | None:
        candidates = sorted({m.group(0) for _, m in _numbers_in_steps(text) if parse_number(m.group(0)) != value})
        return rng.choice(candidates) if candidates else None

    return _replace_answer(text, choose, "swap_answer")


@PERTURBATIONS.register("corrupt_numbers")
def corrupt_numbers(text: str, rng: random.Random) -> Perturbed | None:
    """Change 2-3 numbers (all of them if fewer) in the reasoning lines to nearby different values."""
    numbers = _numbers_in_steps(text)
    if not numbers:
        return None
    chosen = rng.sample(numbers, min(len(numbers), rng.randint(2, 3)))
    # Splice from the end so earlier offsets stay valid.
    for _, match in sorted(chosen, key=lambda item: item[1].start(), reverse=True):
        text = _splice(text, match.start(), match.end(), _nearby(match.group(0), rng))
    return Perturbed(text, min(step for step, _ in chosen), "corrupt_numbers")


def habit_copy(text: str, rng: random.Random, habit: str) -> Perturbed | None:
    """The expert trace rewritten with one of the demo's habits (``data.habits``), for a reward that should know
    that flaw. Only a synthetic-task trace (one correct, chained ``a op b = c`` per line) can be rewritten."""
    steps = reasoning_steps(text)
    lines = [text[start:end] for start, end in steps]
    equations = [parse_equations(line) for line in lines]
    span = _answer_span(text)
    if not lines or span is None or any(len(found) != 1 for found in equations):
        return None
    problem = problem_from_equations([found[0] for found in equations])
    written = HABITS.get(habit).write(problem, rng) if problem is not None else None
    if written is None:
        return None
    new_lines, answer = written
    changed = [i for i, (old, new) in enumerate(zip(lines, new_lines)) if old != new]
    # The answer lies after the think block: splice it first so the block's offsets stay valid.
    text = _splice(_splice(text, *span, answer), steps[0][0], steps[-1][1], "\n".join(new_lines))
    return Perturbed(text, changed[0] if changed else None, f"habit_{habit}")


@PERTURBATIONS.register("habit_slip", opt_in=True)
def habit_slip(text: str, rng: random.Random) -> Perturbed | None:
    """One intermediate result off by 1-2 and carried to the answer (the ``slip`` habit); opt-in, since it
    gives the reward the shape of that one flaw: ``method.perturbations=[...,habit_slip]``."""
    return habit_copy(text, rng, "slip")


def perturb(text: str, names: list[str], rng: random.Random, k: int, max_tries: int | None = None) -> list[Perturbed]:
    """Up to ``k`` distinct perturbed copies of ``text`` from the named perturbations.

    Each try draws a name uniformly from those still able to change ``text``; a perturbation
    that returns None is dropped (None means impossible, not unlucky). Stops after ``max_tries``
    tries (default ``10 * k``), so it may return fewer than ``k``. Unknown names raise at once.
    """
    fns = {name: PERTURBATIONS.get(name) for name in dict.fromkeys(names)}
    live = list(fns)
    seen = {text}
    out: list[Perturbed] = []
    for _ in range(10 * k if max_tries is None else max_tries):
        if len(out) >= k or not live:
            break
        name = rng.choice(live)
        result = fns[name](text, rng)
        if result is None:
            live.remove(name)
        elif result.text not in seen:
            seen.add(result.text)
            out.append(result)
    return out
