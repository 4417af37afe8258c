"""Discriminator batch: own-prompt pairing, dropped no-op perturbations, exact weights, missing demonstrations."""

from __future__ import annotations

import random

import pytest

from reasoning_irl.data import load_split
from reasoning_irl.rewards.perturbations import Perturbed
from reasoning_irl.training.airl import batch as disc_batch
from reasoning_irl.training.airl.batch import build_disc_batch

NAMES = ["flip_operator", "shift_answer", "swap_answer", "corrupt_numbers"]


@pytest.fixture(scope="module")
def records():
    return load_split({"name": "synthetic", "num_train": 50, "num_test": 10}, "train")


def _samples(recs, g=2):
    return [[f"policy {i}.{j}" for j in range(g)] for i in range(len(recs))]


def test_exact_rows_and_weights_two_prompts(records):
    recs = records[:2]
    rows = build_disc_batch(recs, _samples(recs), NAMES, k=2, rng=random.Random(0))
    kinds = [r.kind for r in rows]
    assert kinds.count("expert") == 2 and kinds.count("policy") == 4 and kinds.count("perturbed") == 4
    for r in rows:
        # Positives: 2 rows sharing 1; negatives: 8 rows sharing 1 (split by count).
        assert r.weight == (0.5 if r.kind == "expert" else 0.125)
        assert r.label == (1 if r.kind == "expert" else 0)
    assert sum(r.weight for r in rows if r.label == 1) == pytest.approx(1.0)
    assert sum(r.weight for r in rows if r.label == 0) == pytest.approx(1.0)
    experts = [r for r in rows if r.kind == "expert"]
    assert [r.completion for r in experts] == [recs[0]["target"], recs[1]["target"]]
    assert [r.source_index for r in experts] == [0, 1]
    policy = [r for r in rows if r.kind == "policy"]
    assert [(r.source_index, r.completion) for r in policy] == [
        (0, "policy 0.0"),
        (0, "policy 0.1"),
        (1, "policy 1.0"),
        (1, "policy 1.1"),
    ]
    for r in rows:
        if r.kind == "perturbed":
            assert r.completion != recs[r.source_index]["target"] and r.perturbation in NAMES
            assert r.first_step is None or 0 <= r.first_step < len(recs[r.source_index]["steps"])
        else:
            assert r.first_step is None


def test_every_row_is_paired_with_its_own_prompt(records):
    """Regression: the reference paired negatives with other records' prompts."""
    recs = records[:6]
    rows = build_disc_batch(recs, _samples(recs, g=3), NAMES, k=3, rng=random.Random(1))
    assert {r.kind for r in rows} == {"expert", "policy", "perturbed"}
    for r in rows:
        assert r.prompt == recs[r.source_index]["prompt"]
        if r.kind == "policy":
            assert r.completion.startswith(f"policy {r.source_index}.")
    assert len({str(r.prompt) for r in rows}) == 6  # distinct prompts really are distinct


def test_noop_perturbations_are_dropped(records, monkeypatch):
    """Regression: a None or unchanged perturbation must never become a negative."""
    recs = records[:2]

    def fake_perturb(text, names, rng, k):
        return [None, Perturbed(text, 0, "noop"), Perturbed("", 0, "empty"), Perturbed(text + " changed", 1, "real")]

    monkeypatch.setattr(disc_batch, "perturb", fake_perturb)
    rows = build_disc_batch(recs, [[], []], NAMES, k=4, rng=random.Random(0))
    perturbed = [r for r in rows if r.kind == "perturbed"]
    assert [(r.source_index, r.perturbation, r.first_step) for r in perturbed] == [(0, "real", 1), (1, "real", 1)]
    assert all(r.weight == 0.5 for r in rows)


def test_k_zero_and_no_negatives(records):
    recs = records[:3]
    rows = build_disc_batch(recs, [[], [], []], NAMES, k=0, rng=random.Random(0))
    assert [r.kind for r in rows] == ["expert"] * 3
    assert all(r.weight == pytest.approx(1 / 3) for r in rows)
    only_policy = build_disc_batch(recs[:1], [["a", "b", "c", "d"]], NAMES, k=0, rng=random.Random(0))
    assert [r.weight for r in only_policy] == [1.0, 0.25, 0.25, 0.25, 0.25]
    with pytest.raises(ValueError, match="groups"):
        build_disc_batch(recs, [[]], NAMES, k=1, rng=random.Random(0))


def test_build_is_deterministic(records):
    recs = records[:4]
    a = build_disc_batch(recs, _samples(recs), NAMES, k=2, rng=random.Random(7))
    b = build_disc_batch(recs, _samples(recs), NAMES, k=2, rng=random.Random(7))
    assert a == b


def test_a_record_without_a_demonstration_gives_only_its_policy_samples(records):
    recs = [dict(records[0], has_demonstration=False), records[1]]
    rows = build_disc_batch(recs, _samples(recs), NAMES, k=2, rng=random.Random(0))
    first = [r.kind for r in rows if r.source_index == 0]
    assert first == ["policy", "policy"]  # no expert, no perturbed copy of a target it was never given
    assert [r.kind for r in rows if r.source_index == 1].count("expert") == 1
    # one positive carries all the positive weight; 2 + 2 policy rows and 2 perturbed copies share the negative one
    assert [r.weight for r in rows if r.label == 1] == [1.0]
    assert all(r.weight == pytest.approx(1 / 6) for r in rows if r.label == 0)
    with pytest.raises(ValueError, match="at least one record with a demonstration"):
        build_disc_batch(recs[:1], _samples(recs[:1]), NAMES, k=2, rng=random.Random(0))
