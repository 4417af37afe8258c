"""Is an extracted answer correct? Exact numbers first, then math-verify, then multiple choice.

Numeric rules of :func:`parse_number` (gold and prediction both go through them):

- removed first: surrounding ``**`` (markdown bold), ``$...$``, ``\\(...\\)``, ``\\[...\\]`` and
  a whole-string ``\\boxed{...}``; ``\\$``/``\\%`` count as ``$``/``%``; unicode minus ``−`` is ``-``;
- an optional sign, then an optional currency sign ``$ € £`` (``-$5`` and ``$-5`` both work);
- the number: an integer, a decimal (``3.50`` == ``3.5``, ``12.0`` == ``12``, ``.5``), an integer
  with comma thousands groups (``1,234``; every group exactly three digits, so ``1,23`` is not a
  number), or a fraction ``a/b`` of such a number over a positive integer (``3/4`` == ``0.75``);
- an optional ``%`` which is DROPPED: ``50%`` == ``50`` (GSM8K writes percentages as plain numbers),
  so ``50%`` != ``0.5``;
- an optional trailing currency sign (``5 €``) and up to three space-separated unit words of two or
  more ASCII letters (``18 dollars``, ``10 km/h``, ``3 hours per day``); single letters and glued
  words are refused because they look like variables (``3 x``, ``3xy``, hence also ``5cm``);
- an optional final ``.`` (sentence end).
- at most ``MAX_NUMBER_CHARS`` (1000) characters in all; a longer answer is not a number.

Not numbers: scientific notation, mixed numbers (``1 1/2``), spaces as thousands separators,
words before the number. Two numbers compare exactly as fractions (``0.333`` != ``1/3``).

Otherwise math-verify compares them symbolically, and last, normalised strings (case, spaces and
punctuation ignored). SAFETY: no model text may reach ``eval``/``exec``. math-verify's
``ExprExtractionConfig`` goes through sympy ``parse_expr`` (an eval), so only
``LatexExtractionConfig`` (ANTLR-based latex2sympy) is used; latex2sympy itself sympifies numeral
tokens (also an eval), so importing this module swaps that one hook for an eval-free equivalent.
math-verify's ``signal.alarm`` timeouts are off (they fail off the main thread and cancel outer
timers); on the main thread our own deadline hands any outer timer back, and on every thread inputs
that can blow up sympy (long text, power towers, huge exponents or factorials) are refused.

Multiple choice (:func:`is_correct_choice`): a letter that is an option key, case-insensitive, as
``C``, ``(C)``, ``C.``, ``C)``, ``C: text``, ``Option C``, ``Answer: C``, ``The answer is (C)``
(wrong if the text after it is another option's text), or else the exact text of the gold option
ignoring case, spaces and punctuation. Anything else is wrong, as is a prediction longer than
``MAX_CHOICE_CHARS`` (2000) characters.
"""

from __future__ import annotations

import logging
import re
import signal
import threading
import time
import unicodedata
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from typing import Any

import sympy
from latex2sympy2_extended.latex2sympy2 import _Latex2Sympy
from math_verify import LatexExtractionConfig, parse, verify

MATH_VERIFY_TIMEOUT_S = 5.0
MAX_SYMBOLIC_CHARS = 300
MAX_NUMBER_CHARS = 1000
MAX_CHOICE_CHARS = 2000
"""A multiple-choice prediction longer than this is wrong without reading it (its per-character
normalisation is linear but slow on megabytes); option texts and ways of naming a letter are far shorter."""
"""Longer answers are not read as plain numbers (parse_number -> None): keeps its unwrapping loop and regex
bounded on adversarial text; a real numeric answer is far shorter."""

# Possessive whitespace runs (``\s*+``, each before an item that cannot start with whitespace): the same
# matches, but a failing match no longer tries every split of a long run between adjacent ``\s*`` (cubic).
_NUMBER = re.compile(
    r"""(?P<sign1>[-+]?)\s*+(?P<cur>[$€£]?)\s*+(?P<sign2>[-+]?)\s*+
    (?P<num>\d{1,3}(?:,\d{3})+(?:\.\d*)?|\d+(?:\.\d*)?|\.\d+)
    (?:\s*+/\s*+(?P<den>\d+))?
    (?:\s*+%)?(?:\s*+[$€£])?
    (?:\s++[A-Za-z]{2,}+(?:/[A-Za-z]++)?){0,3}
    \s*+\.?""",
    re.VERBOSE,
)
_WRAPPERS = (("$", "$"), ("\\(", "\\)"), ("\\[", "\\]"))
# Inputs sympy may spend unbounded time or memory on; refused before math-verify sees them.
_DANGEROUS = re.compile(r"\^\s*\{[^{}]*\^|\^\s*\d+\s*\^|\^\s*\{?\s*[-+]?\d{5,}|\d{6,}\s*!")
_LETTER = re.compile(r"\(([A-Za-z])\)|([A-Za-z])(?![A-Za-z0-9])")
_WORD = re.compile(r"(?<![\\A-Za-z])[A-Za-z]{2,}")  # two letters not part of a LaTeX command
_CHOICE_PREFIX = re.compile(r"^(?:the\s+)?(?:correct\s+)?(?:option|choice|answer)(?:\s+is)?\s*[:\-]?\s*", re.I)


class _Deadline(BaseException):
    """Raised by our timer; a BaseException so math-verify's ``except Exception`` cannot swallow it."""


class _DropTimeoutWarning(logging.Filter):
    # math-verify warns once that its timeout is off; we supply our own, so the warning is noise.
    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("Timeout is disabled")


for _name in ("math_verify.parser", "math_verify.grader"):
    logging.getLogger(_name).addFilter(_DropTimeoutWarning())

_NUMERAL = re.compile(r"(?=\.?\d)\d*\.?\d*(?:[eE][-+]?\d+)?")


def _number_without_eval(self: Any, text: str) -> sympy.Number:
    """Same values as latex2sympy's ``sympy.Number(text)``, which sympifies and so runs ``eval``."""
    text = text.replace(",", "")
    if not _NUMERAL.fullmatch(text):
        raise ValueError(f"not a numeral: {text!r}")
    return sympy.Integer(int(text)) if text.isdigit() else sympy.Float(text)


# latex2sympy turns every numeral token into ``sympy.Number(token)`` -> sympify -> parse_expr -> eval.
# The token is lexer-checked digits, but the safety rule is "no eval on model text", so swap in an
# eval-free equivalent (process-wide; values are identical). Fail loudly if the hook ever moves.
if not callable(getattr(_Latex2Sympy, "parse_number", None)):
    raise ImportError("latex2sympy2_extended changed: _Latex2Sympy.parse_number not found; re-check eval safety")
_Latex2Sympy.parse_number = _number_without_eval


def _unwrap(text: str) -> str:
    text = text.strip().strip("*").strip()  # markdown bold around an answer is common
    changed = True
    while changed:
        changed = False
        for left, right in _WRAPPERS:
            if len(text) > len(left) + len(right) and text.startswith(left) and text.endswith(right):
                text, changed = text[len(left) : -len(right)].strip(), True
        if text.startswith("\\boxed{") and text.endswith("}") and _balanced(text[7:-1]):
            text, changed = text[7:-1].strip(), True
    return text


def _balanced(text: str) -> bool:
    depth = 0
    for ch in text:
        depth += {"{": 1, "}": -1}.get(ch, 0)
        if depth < 0:
            return False
    return depth == 0


def parse_number(text: Any) -> Fraction | None:
    """The exact value of a plain numeric answer (rules in the module docstring), else ``None``."""
    if text is None or len(str(text)) > MAX_NUMBER_CHARS:
        return None
    text = _unwrap(str(text).replace("\u2212", "-").replace("\\$", "$").replace("\\%", "%"))
    match = _NUMBER.fullmatch(text)
    if not match or (match["sign1"] and match["sign2"]):
        return None
    try:
        value = Fraction(Decimal(match["num"].replace(",", "")))
    except (InvalidOperation, ValueError):
        return None
    if match["den"] is not None:
        if int(match["den"]) == 0:
            return None
        value /= int(match["den"])
    return -value if "-" in (match["sign1"] + match["sign2"]) else value


@contextmanager
def _deadline(seconds: float) -> Iterator[None]:
    """Interrupt the block after ``seconds`` on the main thread; a no-op elsewhere."""
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "setitimer"):
        yield
        return

    armed = [True]

    def _raise(signum: int, frame: Any) -> None:
        if armed[0]:  # a late tick while cleaning up must not skip the restore below
            raise _Deadline()

    old_handler = signal.signal(signal.SIGALRM, _raise)
    old_delay, old_interval = signal.setitimer(signal.ITIMER_REAL, seconds)
    start = time.monotonic()
    try:
        yield
    finally:
        armed[0] = False
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old_handler)
        if old_delay > 0:  # give an outer timer (e.g. pytest-timeout) back its remaining time
            remaining = max(old_delay - (time.monotonic() - start), 1e-3)
            signal.setitimer(signal.ITIMER_REAL, remaining, old_interval)


def _latex(text: str) -> str:
    return text if any(mark in text for mark in ("$", "\\(", "\\[")) else f"${text}$"


def _refused(text: str) -> bool:
    return len(text) > MAX_SYMBOLIC_CHARS or bool(_DANGEROUS.search(text))


def _symbolic_equal(pred: str, gold: str) -> bool:
    """math-verify with LaTeX extraction only (no eval); False on refusal, error or timeout."""
    if _refused(pred) or _refused(gold):
        return False
    config = [LatexExtractionConfig()]
    try:
        with _deadline(MATH_VERIFY_TIMEOUT_S):
            gold_parsed = parse(_latex(gold), config, fallback_mode="no_fallback", parsing_timeout=None)
            pred_parsed = parse(_latex(pred), config, fallback_mode="no_fallback", parsing_timeout=None)
            if not gold_parsed or not pred_parsed:
                return False
            return bool(verify(gold_parsed, pred_parsed, timeout_seconds=None))
    except _Deadline:
        return False
    except Exception:  # a reward must never crash training on odd model text
        return False


def _symbolic_form(text: str) -> Any:
    """The sympy object math-verify reads from ``text`` (LaTeX extraction only, no eval), else None."""
    if _refused(text):
        return None
    try:
        with _deadline(MATH_VERIFY_TIMEOUT_S):
            parsed = parse(_latex(text), [LatexExtractionConfig()], fallback_mode="no_fallback", parsing_timeout=None)
    except _Deadline:
        return None
    except Exception:  # odd model text must not crash an evaluation
        return None
    return parsed[0] if parsed else None


def _compact(text: str) -> str:
    """Math string fallback: case and whitespace ignored, edge ``.``/``$`` dropped; brackets kept."""
    return "".join(text.casefold().split()).strip(".$")


def _plain(text: str) -> str:
    """Option-text key: case, whitespace and punctuation (Unicode P*) ignored; symbols such as
    ``<``, ``>``, ``=``, ``+``, arrows are kept, so ``LOD Score < 3`` != ``LOD Score > 3``."""
    text = "".join(" " if unicodedata.category(ch).startswith("P") else ch for ch in text.casefold())
    return " ".join(text.split())


def _as_latex_number(value: Fraction) -> str:
    if value.denominator == 1:
        return str(value.numerator)
    sign = "-" if value < 0 else ""
    return f"{sign}\\frac{{{abs(value.numerator)}}}{{{value.denominator}}}"


def is_correct_math(pred: str, gold: str) -> bool:
    """Numeric/symbolic equivalence of an extracted answer and the gold answer."""
    pred, gold = str(pred).strip(), str(gold).strip()
    if not pred or not gold:
        return False
    pred_num, gold_num = parse_number(pred), parse_number(gold)
    if pred_num is not None and gold_num is not None:
        return pred_num == gold_num
    # Give math-verify the exact value of whichever side is a plain number (e.g. "$1,234").
    pred_sym = pred if pred_num is None else _as_latex_number(pred_num)
    gold_sym = gold if gold_num is None else _as_latex_number(gold_num)
    if _symbolic_equal(pred_sym, gold_sym):
        return True
    return bool(_compact(pred)) and _compact(pred) == _compact(gold)


def normalize_options(options: Any) -> dict[str, str]:
    """``{"A": text, ...}`` from a dict (``None`` values dropped) or a list (lettered A, B, ...)."""
    if not options:
        return {}
    if isinstance(options, Mapping):
        items = options.items()
    elif isinstance(options, Sequence) and not isinstance(options, str):
        items = zip("ABCDEFGHIJKLMNOPQRSTUVWXYZ", options)
    else:
        return {}
    return {str(k).strip().upper(): str(v) for k, v in items if v is not None}


def _option_named_by_text(pred: str, options: dict[str, str]) -> str | None:
    """The one option whose text the prediction is (``Answer: Aspirin`` too), else None."""
    keys = {_plain(pred), _plain(_CHOICE_PREFIX.sub("", pred.strip()))} - {""}
    found = [letter for letter, text in options.items() if _plain(text) in keys]
    return found[0] if len(found) == 1 else None


def _option_named_by_letter(pred: str, options: dict[str, str]) -> str | None:
    """The option letter a prediction names (``C``, ``(C)``, ``C.``, ``C: text``, ``Option C``), else None."""
    text = pred.strip().strip("*`'\"").strip()
    stripped = _CHOICE_PREFIX.sub("", text)
    match = _LETTER.match(stripped)
    if not match or (match[1] or match[2]).upper() not in options:
        return None
    letter, rest = (match[1] or match[2]).upper(), stripped[match.end() :]
    if rest.strip(" .:)-") == "":
        return letter
    # "C. text" / "C: text" / "(C) text" / "Option C text" name the letter; "A patient ..." does not.
    if rest[:1] in ".:)-" or match[1] or stripped != text:
        tail = _plain(rest)
        if any(other != letter and tail == _plain(t) for other, t in options.items()):
            return None  # the letter is contradicted by another option's text
        return letter
    return None


def is_correct_choice(pred: str, gold_letter: str, options: Any) -> bool:
    """Multiple choice: the exact text of the gold option, or the gold letter in a recognised form.

    Option text is checked first, so texts that start like a letter (``D-dimer``,
    ``C. difficile colitis``) are read as text.
    """
    opts = normalize_options(options)
    if pred is None or gold_letter is None or not opts or len(str(pred)) > MAX_CHOICE_CHARS:
        return False
    gold = str(gold_letter).strip().strip("().:").strip().upper()
    if gold not in opts:  # gold given as option text
        gold = _option_named_by_text(str(gold_letter), opts) or ""
    if not gold:
        return False
    named = _option_named_by_text(str(pred), opts) or _option_named_by_letter(str(pred), opts)
    return named == gold


def _number_key(value: Fraction) -> str:
    return str(value.numerator) if value.denominator == 1 else f"{value.numerator}/{value.denominator}"


def answer_key(pred: str | None, options: Any = None) -> str | None:
    """The grader's canonical form of an answer, for grouping answers that the grader treats alike.

    Numbers by exact value, whatever their spelling (``18``, ``18 dollars``, ``$18.0``, ``\\frac{36}{2}``
    all give ``"18"``; ``0.5``, ``1/2`` and ``\\frac{1}{2}`` give ``"1/2"``); other math by math-verify's
    sympy form (``expr:...``), so ``1+x^2`` and ``x^2+1`` agree; words and what neither reads, by the
    grader's string fallback (``text:...``). With ``options`` (multiple choice), the option a prediction names
    (``option:C``, by letter or text), else its text. ``None`` for ``None``. Two answers with one key are
    graded alike against a numeric gold; elsewhere the key is as close as the grader's own rules allow.
    """
    if pred is None:
        return None
    text = str(pred).strip()
    if normalize_options(options):
        opts = normalize_options(options)
        if len(text) > MAX_CHOICE_CHARS:
            return "text:" + text  # is_correct_choice refuses these unread, so they vote on their own
        named = _option_named_by_text(text, opts) or _option_named_by_letter(text, opts)
        return f"option:{named}" if named else "text:" + _plain(text)
    number = parse_number(text)
    if number is not None:
        return _number_key(number)
    # A word is text to the grader in effect: math-verify reads "Blue" as B*l*u*e, which would split it from
    # "blue" although the string fallback calls them equal.
    form = _symbolic_form(text) if text and not _WORD.search(text) else None
    if isinstance(form, sympy.Basic):
        if form.is_Rational:
            return _number_key(Fraction(int(form.p), int(form.q)))
        if form.is_Float:
            return _number_key(Fraction(Decimal(str(form))))
        return "expr:" + str(form)
    return "text:" + _compact(text)


def is_correct(pred: str | None, gold: Any, options: Any = None) -> bool:
    """One entry point: multiple choice when ``options`` is given, otherwise math equivalence."""
    if pred is None or gold is None:
        return False
    if normalize_options(options):
        return is_correct_choice(pred, str(gold), options)
    return is_correct_math(str(pred), str(gold))
