"""Grading stays linear in its input: ~1 MB adversarial completions are graded (every verifiable reward,
answer extraction, the answer span of the reranking selectors) in well under a second each on an idle machine.

Each shape runs in a child process with a time limit: a super-linear regex cannot be interrupted from
inside the process, so a regression fails the test instead of hanging it. What is asserted is the growth (a
quarter of the text must take about a quarter of the time) and a ceiling far below what the super-linear
parsers took (25 s for 160k characters), so that a busy machine does not fail it."""

from __future__ import annotations

import json
import subprocess
import sys

SIZE = 1_000_000
CEILING_S = 5.0
NOISE_S = 0.1  # below this, timings are too small to compare

SCRIPT = r"""
import json, sys, time
from reasoning_irl.evaluation.selectors import answer_token_span
from reasoning_irl.rewards import extract_answer, score_completions

def shapes(N):
  OPTIONS = {"A": "aspirin", "B": "heparin"}
  return {
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
def grade(text, options):
    start = time.perf_counter()
    extract_answer(text)
    score_completions([text], ["A" if options else "42"], [options] if options else None)
    answer_token_span([text[i : i + 4096] for i in range(0, len(text), 4096)])
    return time.perf_counter() - start

N = int(sys.argv[1])
small, full = shapes(N // 4), shapes(N)
print(json.dumps({name: [grade(*small[name]), grade(*full[name])] for name in full}))
"""


def test_adversarial_completions_grade_in_well_under_a_second():
    proc = subprocess.run([sys.executable, "-c", SCRIPT, str(SIZE)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    seconds = json.loads(proc.stdout.splitlines()[-1])
    assert len(seconds) == 11
    slow = {name: round(full, 3) for name, (_, full) in seconds.items() if full > CEILING_S}
    assert not slow, f"grading 1 MB took over {CEILING_S} s on: {slow}"
    # Linear: 4x the text, about 4x the time; quadratic would be 16x.
    steep = {
        name: round(full / small, 1)
        for name, (small, full) in seconds.items()
        if full > NOISE_S and full > 10 * max(small, NOISE_S / 4)
    }
    assert not steep, f"grading time grew super-linearly (time ratio for 4x the text): {steep}"


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
