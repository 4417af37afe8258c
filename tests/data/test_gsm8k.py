"""GSM8K loaders on the real files in ../shared/data, and gsm8k_kd on small local fixtures."""

from __future__ import annotations

import dataclasses
import json
import logging

import pytest
from omegaconf import OmegaConf

from reasoning_irl.config import ConfigError
from reasoning_irl.data import (
    check_record,
    gsm8k,  # noqa: F401  (registers gsm8k and gsm8k_kd)
    load_split,
    sources,
)
from reasoning_irl.data.gsm8k import (
    Gsm8kConfig,
    Gsm8kKdConfig,
    Malformed,
    last_boxed,
    load_gsm8k,
    parse_gsm8k_solution,
    parse_kd_answer,
)
from reasoning_irl.data.schema import DEFAULT_SYSTEM_PROMPT, user_question

SOURCE_LOG = "reasoning_irl.data.sources"


def write_jsonl(path, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def gsm8k_dir(shared_data):
    return str(shared_data / "gsm8k")


@pytest.fixture(scope="module")
def source(gsm8k_dir):
    """Both converted source splits, loaded once for the module."""
    cfg = Gsm8kConfig(path=gsm8k_dir)
    return {split: load_gsm8k(cfg, split) for split in ("train", "test")}


@pytest.fixture(scope="module")
def splits(gsm8k_dir):
    section = {"name": "gsm8k", "path": gsm8k_dir}
    return {split: load_split(section, split) for split in ("train", "validation", "test")}


# --- conversion of the official solutions -------------------------------------------------------


def test_first_train_row_exact_target(source):
    record = source["train"][0]
    assert record["id"] == "gsm8k-train-00000"
    assert record["answer"] == "72"
    assert record["target"] == (
        "<think>\nNatalia sold 48/2 = 24 clips in May.\n"
        "Natalia sold 48+24 = 72 clips altogether in April and May.\n</think>\n<answer>\n72\n</answer>"
    )
    spans = record["steps"]
    assert [record["target"][a:b] for a, b in spans] == [
        "Natalia sold 48/2 = 24 clips in May.",
        "Natalia sold 48+24 = 72 clips altogether in April and May.",
    ]
    assert user_question(record).startswith("Natalia sold clips to 48 of her friends")


def test_every_real_row_converts(source):
    assert len(source["train"]) == 7473 and len(source["test"]) == 1319
    for split, records in source.items():
        for i, record in enumerate(records):
            check_record(record)
            assert record["id"] == f"gsm8k-{split}-{i:05d}"
            assert "<<" not in record["target"] and ">>" not in record["target"]
            assert "," not in record["answer"] and record["answer"].lstrip("-").isdigit()


def test_thousands_separator_dropped_from_answer_only(source):
    record = source["train"][345]  # "#### 1,080"; its solution computes 36 * 30 = $1080
    assert record["answer"] == "1080"
    assert record["target"].endswith("<answer>\n1080\n</answer>")


def test_solution_parsing_rules():
    assert parse_gsm8k_solution("a = <<1+1=2>>2\n\nb\n#### 1,234,567") == (["a = 2", "b"], "1234567")
    assert parse_gsm8k_solution("x\n#### 3.5") == (["x"], "3.5")
    for bad, reason in [("x = 2", "####"), ("x\n####  ", "empty"), ("#### 4", "no worked solution")]:
        with pytest.raises(Malformed, match=reason):
            parse_gsm8k_solution(bad)


def test_malformed_rows_are_counted_and_reported(tmp_path, caplog):
    rows = [
        {"question": "q0", "answer": "1+1 = <<1+1=2>>2\n#### 2"},
        {"question": "q1", "answer": "no marker at all"},
        {"question": "q2", "answer": "step\n####"},
        {"question": "q3", "answer": "one\n#### 7"},
    ]
    write_jsonl(tmp_path / "test.jsonl", rows)
    with caplog.at_level(logging.WARNING, logger=SOURCE_LOG):
        records = load_gsm8k(Gsm8kConfig(path=str(tmp_path)), "test")
    assert [r["id"] for r in records] == ["gsm8k-test-00000", "gsm8k-test-00003"]
    assert "gsm8k/test: skipped 2 of 4 malformed rows (first: row 1" in caplog.text
    write_jsonl(tmp_path / "test.jsonl", rows[1:3])
    with pytest.raises(ConfigError, match="every row"):
        load_gsm8k(Gsm8kConfig(path=str(tmp_path)), "test")


# --- splits through load_split ------------------------------------------------------------------


def test_split_sizes_and_disjoint_validation(splits):
    train, validation, test = splits["train"], splits["validation"], splits["test"]
    assert len(train) + len(validation) == 7473
    assert len(validation) == round(0.05 * 7473)
    assert len(test) == 1319
    assert not {r["id"] for r in train} & {r["id"] for r in validation}
    assert all(r["id"].startswith("gsm8k-train-") for r in validation)


def test_splits_deterministic_and_seeded(gsm8k_dir, splits):
    section = {"name": "gsm8k", "path": gsm8k_dir}
    again = [r["id"] for r in load_split(section, "validation")]
    assert again == [r["id"] for r in splits["validation"]]
    other = [r["id"] for r in load_split({**section, "seed": 1}, "validation")]
    assert len(other) == len(again) and other != again


def test_missing_path_is_one_config_error(tmp_path):
    missing = tmp_path / "nowhere"
    with pytest.raises(ConfigError, match=str(missing)):
        load_split({"name": "gsm8k", "path": str(missing)}, "train")


def test_folder_without_test_file(tmp_path):
    write_jsonl(tmp_path / "train.jsonl", [{"question": "q", "answer": "a\n#### 1"}])
    with pytest.raises(ConfigError, match=r"no test\.jsonl .*found: train\.jsonl"):
        load_split({"name": "gsm8k", "path": str(tmp_path)}, "test")


def test_unknown_key_is_config_error(gsm8k_dir):
    with pytest.raises(ConfigError, match="dataset.num_train: unknown key"):
        load_split({"name": "gsm8k", "path": gsm8k_dir, "num_train": 3}, "test")


def test_no_system_merges_instruction(tmp_path):
    write_jsonl(tmp_path / "test.jsonl", [{"question": "What is 1+1?", "answer": "1+1=2\n#### 2"}])
    (record,) = load_split({"name": "gsm8k", "path": str(tmp_path), "no_system": True}, "test")
    assert record["prompt"] == [{"role": "user", "content": f"{DEFAULT_SYSTEM_PROMPT}\n\nWhat is 1+1?"}]
    (plain,) = load_split({"name": "gsm8k", "path": str(tmp_path)}, "test")
    assert [m["role"] for m in plain["prompt"]] == ["system", "user"]


def test_hub_ids_are_requested(monkeypatch):
    calls = []

    def fake_hub(name, split, dataset, subset=None):
        calls.append((name, split, dataset, subset))
        return [
            {"question": "q", "answer": "<think>\nx\n</think>\n\\boxed{1}" if dataset == "gsm8k_kd" else "x\n#### 1"}
        ]

    monkeypatch.setattr(sources, "read_hub_split", fake_hub)
    assert len(load_split({"name": "gsm8k"}, "test")) == 1
    assert len(load_split({"name": "gsm8k_kd"}, "test")) == 1
    assert calls == [
        ("openai/gsm8k", "test", "gsm8k", "main"),
        ("onnookk/format_vs_content_reasoning_clean_gsm8k", "test", "gsm8k_kd", None),
    ]


@pytest.mark.parametrize("name,schema", [("gsm8k", Gsm8kConfig), ("gsm8k_kd", Gsm8kKdConfig)])
def test_yaml_lists_every_key_with_its_default(repo_root, name, schema):
    # The option file states only what differs (nothing): composed, the section is the dataclass's defaults.
    from reasoning_irl.composition import compose

    yaml = OmegaConf.to_container(compose("data_preview", [f"dataset={name}"]).dataset)
    assert yaml == dataclasses.asdict(schema())
    assert yaml["name"] == name


# --- gsm8k_kd -----------------------------------------------------------------------------------

KD_ROWS = [
    {
        "question": "Half of 48?",
        "answer": "<think>\nHalf of 48 is 24.\n\n  So 24.\n</think>\n\nThe answer is \\boxed{24}.",
    },
    {"question": "Big?", "answer": "<think>\nIt is 1000.\n</think>\nDraft \\boxed{9}, final \\boxed{1,000}"},
    {"question": "Frac?", "answer": "<think>\nA fraction.\n</think>\n\\boxed{\\frac{1}{2}}"},
    {"question": "No think", "answer": "It is \\boxed{5}."},
    {"question": "No box", "answer": "<think>\nsteps\n</think>\nThe answer is 5."},
    {"question": "Empty think", "answer": "<think>\n \n</think>\n\\boxed{5}"},
    {"question": "Boxed only inside", "answer": "<think>\n\\boxed{5}\n</think>\nDone."},
]


@pytest.fixture
def kd_dir(tmp_path):
    write_jsonl(tmp_path / "train.jsonl", KD_ROWS)
    write_jsonl(tmp_path / "test.jsonl", KD_ROWS[:3])
    return str(tmp_path)


def test_kd_targets_and_malformed_report(kd_dir, caplog):
    with caplog.at_level(logging.WARNING, logger=SOURCE_LOG):
        records = load_split({"name": "gsm8k_kd", "path": kd_dir, "validation_size": 0}, "train")
    assert [r["id"] for r in records] == ["gsm8k_kd-train-00000", "gsm8k_kd-train-00001", "gsm8k_kd-train-00002"]
    assert [r["answer"] for r in records] == ["24", "1000", "\\frac{1}{2}"]
    assert records[0]["target"] == "<think>\nHalf of 48 is 24.\nSo 24.\n</think>\n<answer>\n24\n</answer>"
    for record in records:
        check_record(record)
    assert "gsm8k_kd/train: skipped 4 of 7 malformed rows (first: row 3, no <think>...</think> block)" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger=SOURCE_LOG):
        assert len(load_split({"name": "gsm8k_kd", "path": kd_dir}, "test")) == 3
    assert "malformed" not in caplog.text


@pytest.mark.parametrize(
    "row,reason", [(3, "no <think>"), (4, "no \\\\boxed"), (5, "empty think"), (6, "no \\\\boxed")]
)
def test_kd_malformed_reasons(row, reason):
    with pytest.raises(Malformed, match=reason):
        parse_kd_answer(KD_ROWS[row]["answer"])


def test_last_boxed_handles_nesting():
    assert last_boxed("\\boxed{a} then \\boxed{\\frac{3}{4}}") == "\\frac{3}{4}"
    assert last_boxed("\\boxed {x^{2}}") == "x^{2}"
    assert last_boxed("\\boxed{ok} \\boxed{unclosed") == "ok"
    assert last_boxed("no box") is None
