"""The scoring command loses nothing and never hangs: a bad row (not UTF-8, not JSON, a field missing or not text,
longer than the reward model's positions) is one ``file:line:`` line while the good rows are scored and written
(exit 4); ``strict=true`` refuses the whole file; an output folder holding the input is always refused."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from eval_helpers import eval_artifacts, one_thread  # noqa: F401  (fixtures)

from reasoning_irl.models.api import RewardModel
from reasoning_irl.score import main

GOOD = {"question": "What is 2 + 3?", "answer": "2 + 3 = 5\nThe answer is 5"}


def _line(row: dict) -> bytes:
    return (json.dumps(row) + "\n").encode()


def _score(capsys, *args: str) -> tuple[int, list[str]]:
    """Exit code and the stderr lines of one scoring command that name its input or are its error (progress bars and
    model-loading chatter left out); ``args[1]`` is ``input=<file>``."""
    try:
        code = main(list(args))
    except SystemExit as stopped:
        code = stopped.code
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith(("error: ", args[1][6:]))]
    return code, err


def _scored_lines(out: Path) -> list[int]:
    return [json.loads(line)["line"] for line in (out / "scores.jsonl").read_text().splitlines()]


def test_a_megabyte_row_is_refused_in_seconds_and_never_reaches_the_model(
    eval_artifacts, tmp_path, capsys, monkeypatch
):
    rows = tmp_path / "rows.jsonl"
    huge = {"question": "What is 1 + 1?", "answer": "1 + 1 = 2\n" * 100_000}  # 1 MB
    rows.write_bytes(_line(GOOD) + _line(huge) + _line(GOOD))
    real = RewardModel.score_batch

    def score_batch(self, pairs, *args, **kwargs):
        assert max(len(s) for _, s in pairs) < 10_000, "a megabyte row reached the model"
        return real(self, pairs, *args, **kwargs)

    monkeypatch.setattr(RewardModel, "score_batch", score_batch)
    start = time.monotonic()
    code, err = _score(
        capsys, f"reward_model_path={eval_artifacts['rm']}", f"input={rows}", f"output={tmp_path / 'out'}"
    )
    assert time.monotonic() - start < 30
    assert code == 4, err
    chars = len(huge["question"]) + len(huge["answer"])
    assert err[0] == f"{rows}:2: {chars} characters, more than the reward model's 1024 positions (refused, not cut)"
    assert len(err) == 2 and err[1].startswith("error: 1 of 3 rows") and "not scored" in err[1]
    assert _scored_lines(tmp_path / "out") == [1, 3]


def test_a_row_over_the_positions_by_tokens_is_refused_not_cut(eval_artifacts, tmp_path, capsys):
    rows = tmp_path / "rows.jsonl"
    long = {"question": "What is 1 + 1?", "answer": "1 + 1 = 2\n" * 400}  # 4,000 characters, over 1,024 tokens
    rows.write_bytes(_line(long) + _line(GOOD))
    code, err = _score(
        capsys, f"reward_model_path={eval_artifacts['rm']}", f"input={rows}", f"output={tmp_path / 'out'}"
    )
    assert code == 4 and len(err) == 2, err
    assert (
        err[0].startswith(f"{rows}:1: ") and "tokens (prompt + solution), more than the reward model's 1024" in err[0]
    )
    assert _scored_lines(tmp_path / "out") == [2]


def test_bad_rows_are_one_line_each_and_the_good_rows_are_written(eval_artifacts, tmp_path, capsys):
    rows = tmp_path / "rows.jsonl"
    rows.write_bytes(
        _line(GOOD)
        + b'{"question": "q", "answer": \n'
        + _line({"question": "q"})
        + _line({"question": "q", "answer": ["a", "list"]})
        + b'{"question": "q", "answer": "caf\xe9"}\n'
        + b"\n"
        + _line(GOOD)
        + b"[1, 2]\n"
    )
    out = tmp_path / "out"
    code, err = _score(capsys, f"reward_model_path={eval_artifacts['rm']}", f"input={rows}", f"output={out}")
    assert code == 4
    assert err == [
        f"{rows}:2: not valid JSON (Expecting value)",
        f"{rows}:3: no text field 'answer' (set question_field= / solution_field=)",
        f"{rows}:4: field 'answer' is list, not text",
        f"{rows}:5: not valid UTF-8 (byte 0xe9 at byte 33 of the line)",
        f"{rows}:8: expected a JSON object per line",
        f"error: 5 of 7 rows of {rows} were not scored (listed above)",
    ]
    assert _scored_lines(out) == [1, 7] and (out / "tokens.html").is_file()
    assert sorted(p.name for p in out.iterdir()) == ["scores.jsonl", "tokens.html"]  # no temporary file, no lock


def test_invalid_utf8_is_a_line_not_a_traceback(eval_artifacts, tmp_path, capsys):
    rows = tmp_path / "rows.jsonl"
    rows.write_bytes(_line(GOOD) + b"\xff\xfe garbage\n")
    code, err = _score(
        capsys, f"reward_model_path={eval_artifacts['rm']}", f"input={rows}", f"output={tmp_path / 'out'}"
    )
    assert code == 4 and err[0] == f"{rows}:2: not valid UTF-8 (byte 0xff at byte 1 of the line)", err
    assert _scored_lines(tmp_path / "out") == [1]


def test_strict_refuses_the_whole_file_and_writes_nothing(eval_artifacts, tmp_path, capsys):
    rows = tmp_path / "rows.jsonl"
    rows.write_bytes(_line(GOOD) + b"{oops\n" + _line(GOOD))
    args = [f"reward_model_path={eval_artifacts['rm']}", f"input={rows}", f"output={tmp_path / 'out'}", "strict=true"]
    code, err = _score(capsys, *args)
    assert code == 2 and err == [
        f"error: {rows}:2: not valid JSON (Expecting property name enclosed in double quotes); "
        "strict=true: nothing was scored"
    ], err
    assert not (tmp_path / "out").exists()
    rows.write_bytes(_line(GOOD) + b"{oops\n" + _line({"question": "q"}))
    code, err = _score(capsys, *args)
    assert code == 2 and len(err) == 3 and err[2].startswith("error: 2 rows of") and "strict=true" in err[2], err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("inside", [".", "sub"])
def test_an_output_folder_holding_the_input_is_refused_even_with_overwrite(eval_artifacts, tmp_path, capsys, inside):
    folder = tmp_path / "scored"
    (folder / inside).mkdir(parents=True, exist_ok=True)
    scores = folder / inside / "scores.jsonl"
    scores.write_bytes(_line(GOOD) + _line(GOOD))
    before = scores.read_bytes()
    code, err = _score(
        capsys, f"reward_model_path={eval_artifacts['rm']}", f"input={scores}", f"output={folder}", "overwrite=true"
    )
    assert code == 2 and len(err) == 1 and "holds the input" in err[0], err
    assert scores.read_bytes() == before
