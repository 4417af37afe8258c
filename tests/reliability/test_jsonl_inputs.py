"""A JSON-lines input that is not UTF-8 or not JSON is named in one line as ``<file>:<line>: ...``, whoever reads it
(a data set, evaluate.py's rescore_from, evaluate_irl.py's samples_from), and for an evaluation before Hydra runs."""

from __future__ import annotations

from pathlib import Path

import pytest
from eval_helpers import eval_artifacts  # noqa: F401  (fixture)

from reasoning_irl.cli import CONFIG_ERROR_EXIT, check_overrides
from reasoning_irl.config import ConfigError
from reasoning_irl.runs import read_jsonl

GOOD_ROW = b'{"problem_id": "p0", "sample_index": 0}\n'
NOT_UTF8 = GOOD_ROW + b'{"completion": "caf\xe9"}\n'  # Latin-1, as a spreadsheet export writes it


def test_a_line_that_is_not_utf8_is_named(tmp_path):
    rows = tmp_path / "rows.jsonl"
    rows.write_bytes(NOT_UTF8)
    with pytest.raises(ConfigError) as refused:
        read_jsonl(rows, "rescore_from")
    assert str(refused.value) == f"rescore_from: {rows}:2: not UTF-8 (byte 0xe9 at column 20); save it as UTF-8"


@pytest.mark.parametrize(
    ("line", "why"),
    [(b'{"a": 1', "Expecting ',' delimiter"), (b"[" * 100_000, "nested too deeply")],
    ids=["cut-short", "nested-too-deeply"],
)
def test_a_line_that_is_not_json_is_named(line, why, tmp_path):
    rows = tmp_path / "rows.jsonl"
    rows.write_bytes(GOOD_ROW + line + b"\n")
    with pytest.raises(ConfigError) as refused:
        read_jsonl(rows, "samples_from")
    assert str(refused.value) == f"samples_from: {rows}:2: not valid JSON ({why})"


@pytest.mark.parametrize(
    ("script", "key"), [("evaluate", "rescore_from"), ("evaluate_irl", "samples_from")], ids=["rescore", "samples"]
)
def test_an_evaluation_input_that_is_not_utf8_is_refused_before_hydra(script, key, eval_artifacts, tmp_path, capsys):
    rows, out = tmp_path / "in" / "eval_results.jsonl", tmp_path / "out"
    rows.parent.mkdir()
    rows.write_bytes(NOT_UTF8)
    argv = [f"{key}={rows}", f"reward_model_path={eval_artifacts['rm']}", f"output_dir={out}"]
    with pytest.raises(SystemExit) as stopped:
        check_overrides(script, [f"artifacts_dir={eval_artifacts['root']}", *argv])
    assert stopped.value.code == CONFIG_ERROR_EXIT
    says = f"error: {key}: {rows}:2: not UTF-8 (byte 0xe9 at column 20); save it as UTF-8\n"
    assert capsys.readouterr().err == says
    assert not out.exists()


def test_a_data_set_names_a_line_that_is_not_json(tmp_path):
    from reasoning_irl.data import load_split

    folder = tmp_path / "gsm8k"
    folder.mkdir()
    (folder / "test.jsonl").write_bytes(b'{"question": "1+1?", "answer": "#### 2"}\n{"question": \n')
    with pytest.raises(ConfigError) as refused:
        load_split({"name": "gsm8k", "path": str(folder)}, "test")
    assert str(refused.value) == f"dataset gsm8k: {Path(folder, 'test.jsonl')}:2: not valid JSON (Expecting value)"
