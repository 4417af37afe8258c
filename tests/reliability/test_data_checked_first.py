"""A data set that cannot train is refused by the entry scripts' check before Hydra runs: one line, naming the file
(and line), and no run folder or ``.hydra/`` written."""

from __future__ import annotations

from pathlib import Path

import pytest

from reasoning_irl.cli import CONFIG_ERROR_EXIT, check_overrides


def gsm8k_folder(root: Path, train: bytes) -> Path:
    folder = root / "gsm8k"
    folder.mkdir()
    (folder / "train.jsonl").write_bytes(train)
    (folder / "test.jsonl").write_bytes(b'{"question": "1+1?", "answer": "2\\n#### 2"}\n')
    return folder


GOOD_ROW = b'{"question": "1+1?", "answer": "2\\n#### 2"}\n'
CASES = {  # case: (method, train.jsonl of a gsm8k folder or None for the synthetic set, overrides, the line's text)
    "empty-data-file": ("grpo", b"\n", [], "error: split 'train' of gsm8k is empty ({data}/train.jsonl)"),
    "invalid-utf8": (
        "sft",
        GOOD_ROW + b'{"question": "caf\xe9?", "answer": "#### 3"}\n',
        [],
        "error: dataset gsm8k: {data}/train.jsonl:2: not UTF-8 (byte 0xe9 at column 18); save it as UTF-8",
    ),
    "eval-steps-without-validation": (
        "airl",
        None,
        ["training.eval_steps=2", "dataset.validation_size=0"],
        "error: training.eval_steps needs validation problems, but the validation split of synthetic is empty: "
        "set dataset.validation_size > 0, or training.eval_steps=0",
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_data_that_cannot_train_is_refused_before_hydra_writes(case, artifacts, tmp_path, capsys):
    method, train, overrides, says = CASES[case]
    data = gsm8k_folder(tmp_path, train) if train is not None else None
    runs = tmp_path / "runs"
    dataset = ["dataset=gsm8k", f"dataset.path={data}"] if data else []
    argv = [f"experiment=tiny_{method}", *dataset, f"output_root={runs}", f"artifacts_dir={artifacts}", *overrides]
    with pytest.raises(SystemExit) as stopped:
        check_overrides(method, argv)  # what the entry script runs before Hydra creates the run folder
    assert stopped.value.code == CONFIG_ERROR_EXIT
    assert capsys.readouterr().err == says.format(data=data) + "\n"
    assert not runs.exists()
