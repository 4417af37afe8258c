import pytest

from reasoning_irl.data.splits import carve, split_records, subset, validation_count


def test_validation_count_fraction_and_count():
    assert validation_count(0.1, 50) == 5
    assert validation_count(7, 50) == 7
    assert validation_count(0, 50) == 0
    with pytest.raises(ValueError, match="leaves no training rows"):
        validation_count(50, 50)


def test_carve_is_seeded_disjoint_and_order_preserving():
    rows = list(range(20))
    rest, carved = carve(rows, 5, seed=1)
    assert len(carved) == 5 and sorted(rest + carved) == rows
    assert carved == sorted(carved) and rest == sorted(rest)
    assert carve(rows, 5, seed=1) == (rest, carved)
    assert carve(rows, 5, seed=2)[1] != carved


def test_subset_ratio():
    rows = list(range(10))
    assert subset(rows, 1.0, 0) == rows
    half = subset(rows, 0.5, 0)
    assert len(half) == 5 and set(half) <= set(rows) and half == subset(rows, 0.5, 0)
    assert len(subset(rows, 0.01, 0)) == 1


def test_split_records_partitions_train():
    rows = [{"id": i} for i in range(40)]
    train = split_records(rows, "train", 0.25, 3)
    val = split_records(rows, "validation", 0.25, 3)
    assert len(val) == 10 and len(train) == 30
    assert {r["id"] for r in train}.isdisjoint(r["id"] for r in val)
