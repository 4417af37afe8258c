"""Grading stays linear in its input: ~1 MB adversarial completions are graded (every verifiable reward,
answer extraction, the answer span of the reranking selectors) in well under a second each.

Each shape runs in a child process with a time limit: a super-linear regex cannot be interrupted from
inside the process, so a regression fails the test instead of hanging it."""

from __future__ import annotations

import json
import subprocess
import sys

SIZE = 1_000_000
BUDGET_S = 0.5

SCRIPT = r"""
import json, sys, time
from reasoning_irl.evaluation.selectors import answer_token_span
from reasoning_irl.rewards import extract_answer, score_completions

N = int(sys.argv[1])
OPTIONS = {"A": "aspirin", "B": "heparin"}
SHAPES = {
    "unclosed_answer": ("<answer>" * (N // 8), None),
    "repeated_think": ("<think>" * (N // 7), None),
    "repeated_think_close": ("<think>" + "</think>" * (N // 8), None),
    "strict_candidates": ("<think>\n" + "\n</think>\n<answer>\n" * (N // 19) + "x", None),
    "unclosed_boxed": ("\\boxed{" * (N // 7), None),
    "nested_braces": ("\\boxed{" + "{" * (N // 2) + "}" * (N // 2), None),
    "long_digits": ("<answer>\n" + "1" * N + "\n</answer>", None),
    "digits_then_spaces": ("<answer>1" + " " * N + "x</answer>", None),
    "sign_then_spaces": ("<answer>-" + " " * N + "5</answer>", None),
    "dollar_wrappers": ("<answer>" + "$" * N + "</answer>", None),
    "choice_parens": ("<answer>The answer is (" + "(" * N + "</answer>", OPTIONS),
}
out = {}
for name, (text, options) in SHAPES.items():
    start = time.perf_counter()
    extract_answer(text)
    score_completions([text], ["A" if options else "42"], [options] if options else None)
    answer_token_span([text[i : i + 4096] for i in range(0, len(text), 4096)])
    out[name] = time.perf_counter() - start
print(json.dumps(out))
"""


def test_adversarial_completions_grade_in_well_under_a_second():
    proc = subprocess.run([sys.executable, "-c", SCRIPT, str(SIZE)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    seconds = json.loads(proc.stdout.splitlines()[-1])
    assert len(seconds) == 11
    slow = {name: round(s, 3) for name, s in seconds.items() if s > BUDGET_S}
    assert not slow, f"grading took over {BUDGET_S} s on: {slow}"


def test_long_answers_are_refused_not_misread():
    from reasoning_irl.rewards import extract_answer, is_correct
    from reasoning_irl.rewards.correctness import MAX_CHOICE_CHARS, MAX_NUMBER_CHARS, parse_number

    assert parse_number("1" * MAX_NUMBER_CHARS) == int("1" * MAX_NUMBER_CHARS)
    assert parse_number("1" * (MAX_NUMBER_CHARS + 1)) is None
    options = {"A": "aspirin", "B": "heparin"}
    assert is_correct("(A)" + " " * (MAX_CHOICE_CHARS - 3), "A", options)
    assert not is_correct("(A)" + " " * (MAX_CHOICE_CHARS - 2), "A", options)
    # a truncated trailing box falls back to the earlier closed one, also behind many unclosed ones
    assert extract_answer("\\boxed{7} then " + "\\boxed{" * 1000) == "7"
    assert extract_answer("<answer>3</answer>" + "<answer>" * 1000) == "3"
