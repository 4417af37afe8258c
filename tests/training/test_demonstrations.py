"""The demonstrations SFT and AIRL learn from: subsets, corrupted and restyled traces, refusals."""

from __future__ import annotations

import random

import pytest

from reasoning_irl.config import ConfigError
from reasoning_irl.data import load_split
from reasoning_irl.data.habits import parse_equations
from reasoning_irl.training.airl.batch import build_disc_batch
from reasoning_irl.training.demonstrations import DemonstrationSettings, corrupt_experts, prepare_demonstrations

NAMES = ["flip_operator", "shift_answer", "swap_answer", "corrupt_numbers"]


@pytest.fixture(scope="module")
def records():
    return load_split({"name": "synthetic", "num_train": 50, "num_test": 10}, "train")


def test_defaults_leave_the_records_as_they_are(records):
    assert prepare_demonstrations(records, DemonstrationSettings(), NAMES, seed=0) == list(records)


def test_a_subset_is_seeded_nested_and_flags_the_rest(records):
    def chosen(k, seed=0):
        out = prepare_demonstrations(records, DemonstrationSettings(num_demonstrations=k), NAMES, seed)
        assert [r["id"] for r in out] == [r["id"] for r in records]  # every prompt stays
        assert all(new["target"] == old["target"] for new, old in zip(out, records))
        return {r["id"] for r in out if r["has_demonstration"]}

    few, more = chosen(4), chosen(16)
    assert len(few) == 4 and len(more) == 16 and few < more
    assert chosen(4) == few and chosen(4, seed=1) != few
    assert len(chosen(len(records))) == len(records)
    with pytest.raises(ConfigError, match=f"num_demonstrations={len(records) + 1} but the training split has"):
        chosen(len(records) + 1)


def test_errors_fall_on_demonstrations_only(records):
    settings = DemonstrationSettings(num_demonstrations=10, expert_error_rate=0.4)
    out = prepare_demonstrations(records, settings, NAMES, seed=0)
    flagged = [r for r in out if r.get("is_expert_error")]
    assert len(flagged) == 4 and all(r["has_demonstration"] for r in flagged)  # round(0.4 * 10)
    assert all(r["target"] == old["target"] for r, old in zip(out, records) if not r["has_demonstration"])
    # every demonstration at rate 0.2, the old AIRL ablation's draw: the same records corrupted the same way
    everyone = prepare_demonstrations(records, DemonstrationSettings(expert_error_rate=0.2), NAMES, seed=3)
    assert everyone == corrupt_experts(records, 0.2, NAMES, random.Random("3-expert-errors"))


def test_a_style_rewrites_every_target_and_keeps_its_equations(records):
    out = prepare_demonstrations(records, DemonstrationSettings(demonstration_style="compact"), NAMES, seed=0)
    for new, old in zip(out, records):
        assert " + " not in new["target"] and " = " not in new["target"] and new["target"] != old["target"]
        assert parse_equations(new["target"]) == parse_equations(old["target"])
        assert new["answer"] == old["answer"] and new["prompt"] == old["prompt"]


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (DemonstrationSettings(num_demonstrations=0), "num_demonstrations must be >= 1"),
        (DemonstrationSettings(expert_error_rate=1.5), r"expert_error_rate must be in \[0, 1\]"),
        (DemonstrationSettings(demonstration_style="shouty"), "unknown 'shouty'; choose one of: compact"),
    ],
)
def test_bad_settings_are_one_line(settings, message):
    with pytest.raises(ConfigError, match=message):
        settings.check_demonstrations()


def test_both_methods_check_them_and_airl_refuses_a_paired_loss_without_every_demonstration():
    from reasoning_irl.training.airl.config import AIRLMethod
    from reasoning_irl.training.config import SFTMethod

    for method, extra in ((SFTMethod, {}), (AIRLMethod, {"disc_extra_experts": 4})):
        method(num_demonstrations=16, expert_error_rate=0.2, demonstration_style="compact", **extra).check()
        with pytest.raises(ConfigError, match="num_demonstrations must be >= 1"):
            method(num_demonstrations=0, **extra).check()
    with pytest.raises(ConfigError, match="pairs every policy sample with its own problem's expert trace"):
        AIRLMethod(num_demonstrations=16, disc_extra_experts=4, disc_loss="relativistic").check()
    with pytest.raises(ConfigError, match="num_demonstrations needs disc_extra_experts >= 1"):
        AIRLMethod(num_demonstrations=16).check()


@pytest.mark.parametrize("rate", [0.0, 0.25, 0.5, 1.0])
def test_corrupt_experts_fraction(records, rate):
    out = corrupt_experts(records, rate, NAMES, random.Random(3))
    flagged = [r for r in out if r["is_expert_error"]]
    assert len(flagged) == int(rate * len(records) + 0.5)
    for orig, new in zip(records, out):
        assert new["id"] == orig["id"] and new["answer"] == orig["answer"] and new["prompt"] == orig["prompt"]
        assert (new["target"] != orig["target"]) == new["is_expert_error"]
    assert all("is_expert_error" not in r for r in records)  # inputs untouched


def test_corrupt_experts_is_deterministic_and_flags_flow_to_rows(records):
    a = corrupt_experts(records, 0.3, NAMES, random.Random(11))
    b = corrupt_experts(records, 0.3, NAMES, random.Random(11))
    c = corrupt_experts(records, 0.3, NAMES, random.Random(12))
    assert a == b
    assert [r["is_expert_error"] for r in a] != [r["is_expert_error"] for r in c]
    rows = build_disc_batch(a[:10], [[] for _ in range(10)], NAMES, k=1, rng=random.Random(0))
    experts = [r for r in rows if r.kind == "expert"]
    assert [r.is_expert_error for r in experts] == [rec["is_expert_error"] for rec in a[:10]]
    with pytest.raises(ValueError, match="rate"):
        corrupt_experts(records, 1.5, NAMES, random.Random(0))


def test_corrupt_experts_skips_unchangeable_records():
    recs = [{"id": str(i), "prompt": [], "target": "no numbers here", "answer": "x"} for i in range(4)]
    out = corrupt_experts(recs, 1.0, ["shift_answer"], random.Random(0))
    assert not any(r["is_expert_error"] for r in out)


def test_sft_and_airl_learn_from_the_same_few_restyled_demonstrations(artifacts, tmp_path, monkeypatch):
    """Tiny runs: SFT's rows and AIRL's discriminator positives are the same 3 compact demonstrations."""
    from reasoning_irl.composition import compose
    from reasoning_irl.training import sft
    from reasoning_irl.training.airl import run as airl_run
    from reasoning_irl.training.airl.discriminator import Discriminator

    settings = ["method.num_demonstrations=3", "method.demonstration_style=compact", "dataset.num_train=12"]
    common = [f"output_root={tmp_path}", f"artifacts_dir={artifacts}", "training.max_steps=2", *settings]
    seen: dict = {"sft": [], "positives": set(), "prompts": set()}
    real_rows, real_update = sft.sft_rows, Discriminator.update

    def rows_spy(records):
        seen["sft"].append(records)  # the training rows first, then any held-out ones
        return real_rows(records)

    def update_spy(self, rows, completions, policy_logps=None):
        seen["positives"] |= {r.completion for r in rows if r.label == 1}
        seen["prompts"] |= {repr(r.prompt) for r in rows if r.kind == "policy"}
        return real_update(self, rows, completions, policy_logps)

    monkeypatch.setattr(sft, "sft_rows", rows_spy)
    monkeypatch.setattr(Discriminator, "update", update_spy)
    sft.run_sft(compose("sft", ["experiment=tiny_sft", *common, "training.eval_steps=0"]))
    airl_run.run_airl(
        compose(
            "airl",
            ["experiment=tiny_airl", *common, "method.disc_extra_experts=1", "sampling.max_completion_length=8"]
            + ["run_name=airl"],
        )
    )
    demonstrations = seen["sft"][0]
    targets = {r["target"] for r in demonstrations}
    assert len(demonstrations) == len(targets) == 3 and all(" = " not in t and "=" in t for t in targets)
    assert seen["positives"] and seen["positives"] <= targets  # AIRL's positives: SFT's demonstrations only
    # the policy also samples problems that have no demonstration
    assert seen["prompts"] - {repr(r["prompt"]) for r in demonstrations}
