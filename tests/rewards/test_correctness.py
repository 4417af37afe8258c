"""Correctness: exact numbers, math-verify on LaTeX (never eval), multiple choice."""

from __future__ import annotations

import builtins
import signal
import threading
import time
from fractions import Fraction

import pytest

from reasoning_irl.rewards import correctness
from reasoning_irl.rewards.correctness import is_correct, is_correct_choice, parse_number
from reasoning_irl.rewards.extraction import extract_answer

OPTIONS = {"A": "Aspirin", "B": "Beta blocker", "C": "Calcium channel blocker", "D": "Diuretic", "E": "ACE inhibitor"}


def wrap(answer: str) -> str:
    return f"<think>\nstep\n</think>\n<answer>\n{answer}\n</answer>"


# (completion, gold, options, expected): extraction and correctness end to end.
TABLE = [
    (wrap("$1,234"), "1234", None, True),
    (wrap("1234"), "$1,234", None, True),
    (wrap("-5"), "-5", None, True),
    (wrap("\u22125"), "-5", None, True),  # unicode minus
    (wrap("5"), "-5", None, False),
    (wrap("3.50"), "3.5", None, True),
    (wrap("12.0"), "12", None, True),
    (wrap("1/2"), "0.5", None, True),
    (wrap("3/4"), "0.75", None, True),
    (wrap("50%"), "50", None, True),  # % dropped: 50% == 50
    (wrap("50%"), "0.5", None, False),
    (wrap("18 dollars"), "18", None, True),
    (wrap("$18.00 per hour"), "18", None, True),
    (wrap("€7"), "7", None, True),
    (wrap("**14**"), "14", None, True),
    (wrap("17"), "14", None, False),
    (wrap("0.333"), "1/3", None, False),  # exact: no float tolerance
    (wrap("\\boxed{12}"), "12", None, True),
    ("the answer is \\boxed{12}", "12", None, True),
    ("\\boxed{\\frac{1}{2}}", "0.5", None, True),
    ("\\boxed{\\frac{\\sqrt{2}}{2}}", "\\frac{1}{\\sqrt{2}}", None, True),
    (wrap("x = 5"), "5", None, True),
    ("<answer>3</answer> wait, <answer>4</answer>", "4", None, True),  # last block wins
    ("<answer>4</answer> wait, <answer>3</answer>", "4", None, False),
    ("no tags at all\n#### 72", "72", None, True),
    ("no tags and no answer 72", "72", None, False),
    (wrap(" "), "5", None, False),  # empty answer
    (wrap("Yes"), "yes", None, True),  # string fallback
    (wrap("C"), "C", OPTIONS, True),
    (wrap("(C)"), "C", OPTIONS, True),
    (wrap("C."), "C", OPTIONS, True),
    (wrap("C: Calcium channel blocker"), "C", OPTIONS, True),
    (wrap("Option C"), "C", OPTIONS, True),
    (wrap("The answer is (C)"), "C", OPTIONS, True),
    (wrap("c"), "C", OPTIONS, True),  # lower-case letter
    (wrap("calcium  channel BLOCKER."), "C", OPTIONS, True),  # option text, normalised
    (wrap("D"), "C", OPTIONS, False),  # wrong letter
    (wrap("Diuretic"), "C", OPTIONS, False),  # wrong option text
    (wrap("C: Diuretic"), "C", OPTIONS, False),  # letter contradicted by another option's text
    (wrap("F"), "C", OPTIONS, False),  # not an option
    (wrap("Aspirin"), "A", OPTIONS, True),
    (wrap("Answer: calcium channel blocker"), "C", OPTIONS, True),  # text of option A starts with the letter A
    (wrap("A patient"), "A", OPTIONS, False),
    ("no answer", "C", OPTIONS, False),  # None prediction
]


@pytest.mark.parametrize(("completion", "gold", "options", "expected"), TABLE)
def test_extraction_and_correctness_table(completion, gold, options, expected):
    assert is_correct(extract_answer(completion), gold, options) is expected


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("1,234,567.5", Fraction(2469135, 2)),
        ("-$5", Fraction(-5)),
        ("$-5", Fraction(-5)),
        (".5", Fraction(1, 2)),
        ("12.", Fraction(12)),
        ("\\$18", Fraction(18)),
        ("50\\%", Fraction(50)),
        ("$5$", Fraction(5)),
        ("5 \u20ac", Fraction(5)),
        ("10 km/h", Fraction(10)),
        ("\\boxed{-3/4}", Fraction(-3, 4)),
        ("1,23", None),  # bad thousands grouping
        ("1 1/2", None),  # mixed numbers are refused
        ("1e5", None),
        ("3 x", None),  # single letters look like variables
        ("3xy", None),
        ("3/0", None),
        ("+-3", None),
        ("about 5", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_number(text, value):
    assert parse_number(text) == value


# Option texts seen in MedQA that look like letters or differ only in symbols.
TRICKY = {
    "A": "D-dimer",
    "B": "C. difficile colitis",
    "C": "LOD Score < 3",
    "D": "LOD Score > 3",
    "E": "\u2193 \u2191 \u2193",
}


@pytest.mark.parametrize(
    ("pred", "gold", "expected"),
    [
        ("D-dimer", "A", True),  # option text, not letter D
        ("D-dimer", "D", False),
        ("d dimer", "A", True),  # punctuation-insensitive
        ("C. difficile colitis", "B", True),  # not "C." + text
        ("C. difficile colitis", "C", False),
        ("LOD Score > 3", "D", True),
        ("LOD Score > 3", "C", False),  # symbols are not punctuation
        ("\u2193 \u2191 \u2193", "E", True),
        ("D", "D", True),
    ],
)
def test_choice_option_text_first(pred, gold, expected):
    assert is_correct_choice(pred, gold, TRICKY) is expected


def test_string_fallback_keeps_brackets():
    assert is_correct("[1, 2)", "(1, 2]") is False
    assert is_correct("[1, 2)", "[1,2)") is True


def test_none_and_missing_inputs():
    assert is_correct(None, "5") is False
    assert is_correct("5", None) is False
    assert is_correct("", "") is False
    assert is_correct_choice("C", "C", {}) is False


def test_choice_options_as_list_and_gold_as_text():
    options = ["red", "green", "blue"]
    assert is_correct("B", "B", options) is True
    assert is_correct("green", "B", options) is True
    assert is_correct("B", "green", options) is True  # gold given as the option text
    assert is_correct("blue", "B", options) is False


def test_model_text_never_reaches_eval_or_exec(monkeypatch):
    import math_verify.parser
    from latex2sympy2_extended.latex2sympy2 import _Latex2Sympy
    from sympy.parsing.sympy_parser import parse_expr

    # Warm up on other inputs first: sympy's lazy imports (e.g. physics.units) sympify their own
    # constant strings once; that is library code, not model text.
    for warm in ("\\frac{3}{7}", "y = 2", "7 \\text{ m}", "\\sqrt{3}", "10\\%"):
        is_correct(warm, "1.25")
    # Drop math-verify's parse caches so the batch below really goes through latex2sympy.
    math_verify.parser.parse_latex_cached.cache_clear()
    math_verify.parser.parse_expr_cached.cache_clear()

    evals, execs, numerals = [], [], []
    real_exec, real_parse_number = builtins.exec, _Latex2Sympy.parse_number

    def refuse_eval(*args, **kwargs):
        evals.append(args[:1])
        raise RuntimeError("eval must not be called by a reward")

    def watch_exec(source, *args, **kwargs):
        # sympy execs its own generated helpers (e.g. polys' monomial_mul); those are allowed,
        # anything carrying model text is not.
        execs.append(str(source))
        return real_exec(source, *args, **kwargs)

    def count_numerals(self, text):
        numerals.append(text)
        return real_parse_number(self, text)

    monkeypatch.setattr(builtins, "eval", refuse_eval)
    monkeypatch.setattr(builtins, "exec", watch_exec)
    monkeypatch.setattr(_Latex2Sympy, "parse_number", count_numerals)
    # Positive control: sympy's parse_expr (math-verify's ExprExtractionConfig path) does call eval.
    with pytest.raises(RuntimeError):
        parse_expr("1 + 1")
    assert evals
    evals.clear()

    malicious = "__import__('os').system('echo pwned')"
    preds = [
        malicious,
        f"\\boxed{{{malicious}}}",
        f"${malicious}$",
        "x**2 + 1",
        "\\frac{1}{2}",
        "\\sqrt{2}/2",
        "x = 5",
        "(1, 2)",
        "$1,234",
        "1.5E-3",
        "lambda: 0",
    ]
    golds = ("0.5", "\\frac{\\sqrt{2}}{2}", malicious)
    results = {(p, g): is_correct(p, g) for p in preds for g in golds}
    assert evals == []
    assert not [src for src in execs if any(mark in src for mark in ("__import__", "pwned", "lambda", "x**2"))]
    assert numerals  # latex2sympy really converted numerals during the batch
    assert results[("\\frac{1}{2}", "0.5")] is True  # math-verify still works on LaTeX
    assert results[("\\sqrt{2}/2", "\\frac{\\sqrt{2}}{2}")] is True
    assert results[(malicious, "0.5")] is False


def test_huge_expressions_are_refused_fast():
    start = time.monotonic()
    assert is_correct("10^{10^{10}}", "5") is False
    assert is_correct("9^{9^{9^{9}}}", "2") is False
    assert is_correct("2^{1234567}", "5") is False
    assert is_correct("x" * 1000, "5") is False
    assert time.monotonic() - start < 2.0


def test_works_off_the_main_thread():
    results = []

    def work():
        results.append((is_correct("\\frac{1}{2}", "0.5"), is_correct("3", "4")))

    worker = threading.Thread(target=work)
    worker.start()
    worker.join(timeout=30)
    assert results == [(True, False)]


def test_slow_math_verify_times_out_and_restores_outer_timer(monkeypatch):
    def stuck_verify(*args, **kwargs):
        time.sleep(30)  # interrupted by our deadline
        return True

    monkeypatch.setattr(correctness, "verify", stuck_verify)
    monkeypatch.setattr(correctness, "MATH_VERIFY_TIMEOUT_S", 0.2)
    outer_fired = []

    def outer_handler(*_):
        outer_fired.append(True)

    previous = signal.signal(signal.SIGALRM, outer_handler)
    try:
        signal.setitimer(signal.ITIMER_REAL, 60.0)  # an outer timer, like pytest-timeout's
        start = time.monotonic()
        assert is_correct("\\frac{1}{2}", "\\sqrt{2}") is False
        assert time.monotonic() - start < 5.0
        remaining, _ = signal.getitimer(signal.ITIMER_REAL)
        assert 50.0 < remaining <= 60.0  # the outer timer was handed back, not cancelled
        assert signal.getsignal(signal.SIGALRM) is outer_handler
        assert outer_fired == []
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
