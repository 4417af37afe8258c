"""medreason: real MedQA test rows from ../shared/data, and the hub path on a faked MedReason split."""

from __future__ import annotations

import dataclasses
import logging

import pytest
from omegaconf import OmegaConf

from reasoning_irl.config import ConfigError
from reasoning_irl.data import (
    check_record,
    load_split,
    medreason,  # noqa: F401  (registers medreason)
)
from reasoning_irl.data.medreason import Malformed, MedReasonConfig, gold_letter, load_medreason, parse_options
from reasoning_irl.data.schema import user_question


@pytest.fixture(scope="module")
def medqa_dir(shared_data):
    return str(shared_data / "medqa")


@pytest.fixture(scope="module")
def medqa(medqa_dir):
    """The converted MedQA test split, loaded once for the module."""
    return load_medreason(MedReasonConfig(path=medqa_dir), "test")


# --- local MedQA files --------------------------------------------------------------------------


def test_first_medqa_row(medqa):
    record = medqa[0]
    assert record["id"] == "medreason-test-00000"
    assert record["answer"] == "C"
    assert list(record["options"]) == ["A", "B", "C", "D", "E"]
    assert record["answer_text"] == "Tell the attending that he cannot fail to disclose this mistake"
    question = user_question(record)
    assert question.startswith("A junior orthopaedic surgery resident")
    assert "\n\nA. Disclose the error to the patient but leave it out of the operative report\n" in question
    assert "\nC. Tell the attending that he cannot fail to disclose this mistake\n" in question
    assert question.endswith("\nE. Refuse to dictate the operative report")
    assert record["target"] == (
        "<think>\nThe correct option is C: Tell the attending that he cannot fail to disclose this mistake.\n"
        "</think>\n<answer>\nC\n</answer>"
    )


def test_every_medqa_row_converts(medqa):
    assert len(medqa) == 1273
    for record in medqa:
        check_record(record)
        assert record["answer"] in record["options"] and len(record["options"]) == 5
        assert record["options"][record["answer"]] == record["answer_text"]
        assert all("\n" not in text for text in record["options"].values())


def test_scraping_artifact_dropped(medqa):
    assert medqa[7]["options"]["E"] == "Propranolol"  # source text: 'Propranolol\n"'
    assert user_question(medqa[7]).endswith("\nE. Propranolol")


def test_local_folder_without_train_file(medqa_dir):
    with pytest.raises(ConfigError, match=r"no train\.jsonl .*found: test\.jsonl"):
        load_split({"name": "medreason", "path": medqa_dir}, "train")


def test_unknown_key_and_bad_test_size(medqa_dir):
    with pytest.raises(ConfigError, match="dataset.options: unknown key"):
        load_split({"name": "medreason", "path": medqa_dir, "options": 4}, "test")
    with pytest.raises(ConfigError, match="test_size must be >= 1"):
        load_split({"name": "medreason", "path": medqa_dir, "test_size": 0}, "test")


def test_yaml_lists_every_key_with_its_default(repo_root):
    # The option file states only what differs (nothing): composed, the section is the dataclass's defaults.
    from reasoning_irl.composition import compose

    yaml = OmegaConf.to_container(compose("data_preview", ["dataset=medreason"]).dataset)
    assert yaml == dataclasses.asdict(MedReasonConfig())


# --- parsing rules ------------------------------------------------------------------------------


def test_parse_options_forms():
    text = "Answer Choices:\nA. Aspirin\nB. Heparin, given\n   as a bolus\nC) Warfarin\nD. None of the above"
    assert parse_options(text) == {
        "A": "Aspirin",
        "B": "Heparin, given as a bolus",
        "C": "Warfarin",
        "D": "None of the above",
    }
    assert parse_options('{"A": "x", "B": "y"}') == {"A": "x", "B": "y"}
    assert parse_options(["x", "y"]) == {"A": "x", "B": "y"}
    # A later letter inside an option is text, not a new option.
    assert parse_options("A. Vitamin\nD. deficiency\nB. Iron") == {"A": "Vitamin D. deficiency", "B": "Iron"}


def test_gold_letter_rules():
    options = {"A": "Aspirin", "B": "Heparin", "C": "Warfarin"}
    assert gold_letter(options, "Heparin. Explanation: it acts fast.", None) == "B"
    assert gold_letter(options, "  warfarin. ", None) == "C"
    assert gold_letter(options, "Aspirin", "a") == "A"
    assert gold_letter(options, None, "C") == "C"
    for args, reason in [
        ((options, "Insulin", None), "matches no option"),
        (({"A": "x", "B": "x"}, "x", None), "matches options"),
        ((options, "Aspirin", "F"), "not an option"),
        ((options, "Aspirin", "B"), "disagrees"),
        (({"A": "x"}, "x", None), "at least 2"),
        ((options, "", ""), "no answer text"),
    ]:
        with pytest.raises(Malformed, match=reason):
            gold_letter(*args)


# --- hub path (MedReason schema), with the hub call replaced ------------------------------------


def fake_hub_rows() -> list[dict]:
    rows = []
    for i in range(40):
        source = ("medqa", "medmcqa", "pubmedqa", "MedQA")[i % 4]
        rows.append(
            {
                "dataset_name": source,
                "question": f"Question {i % 36}?",  # rows 36..39 repeat earlier questions
                "options": f"Answer Choices:\nA. drug {i}\nB. other {i}\nC. none {i}",
                "answer": f"other {i}. Explanation: because." if i != 5 else "unlisted",
                "reasoning": f"Finding reasoning paths:\n\n1. Path {i}\nConclusion {i}",
            }
        )
    return rows


@pytest.fixture
def hub(monkeypatch):
    calls = []

    def read_hub_split(name, split, dataset, subset=None):
        calls.append((name, split, dataset))
        return fake_hub_rows()

    monkeypatch.setattr(medreason, "read_hub_split", read_hub_split)
    return calls


def index(record) -> int:
    return int(record["id"].rsplit("-", 1)[1])


def test_hub_rows_filtered_converted_and_carved(hub, caplog):
    # test_seed=1 carves a question that two hub rows share (rows 1 and 37): both must go to test.
    section = {"name": "medreason", "test_size": 4, "test_seed": 1, "validation_size": 3}
    with caplog.at_level(logging.WARNING, logger="reasoning_irl.data.sources"):
        parts = {split: load_split(section, split) for split in ("train", "validation", "test")}
    assert set(hub) == {("UCSC-VLAA/MedReason", "train", "medreason")}
    assert "skipped 1 of" in caplog.text and "(first: row 5, answer text matches no option)" in caplog.text
    everything = [r for part in parts.values() for r in part]
    kept = {i for i in range(40) if i % 4 != 2} - {5}  # pubmedqa dropped, row 5 malformed
    assert sorted(index(r) for r in everything) == sorted(kept)
    assert len(parts["validation"]) == 3
    test_questions = {user_question(r).split("\n")[0] for r in parts["test"]}
    train_questions = {user_question(r).split("\n")[0] for r in parts["train"] + parts["validation"]}
    assert len(test_questions) == 4 and len(parts["test"]) == 5
    assert not test_questions & train_questions
    record = everything[0]
    check_record(record)
    assert record["answer"] == "B" and record["answer_text"] == f"other {index(record)}"
    assert record["target"].startswith(f"<think>\nFinding reasoning paths:\n1. Path {index(record)}\n")


def test_hub_test_carve_is_fixed_by_test_seed(hub):
    def test_ids(**keys):
        return [r["id"] for r in load_split({"name": "medreason", "test_size": 4, **keys}, "test")]

    first = test_ids()
    assert first == test_ids() == test_ids(seed=5)  # training seed leaves test alone
    assert test_ids(test_seed=1) != first


def test_hub_test_size_too_large(hub):
    with pytest.raises(ConfigError, match="test_size=500 leaves no training questions"):
        load_split({"name": "medreason", "test_size": 500}, "test")
