"""A variant registered at runtime is a first-class citizen: config validation accepts its name, and a metric
reaches the evaluation summary and its table without touching any other file."""

from __future__ import annotations

import pytest
import torch

from reasoning_irl.composition import compose
from reasoning_irl.config import ConfigError, validate
from reasoning_irl.evaluation.metrics import METRICS, ProblemSamples, summarize
from reasoning_irl.evaluation.outputs import metrics_table
from reasoning_irl.training.advantages import ADVANTAGES
from reasoning_irl.training.airl.config import AIRLRunConfig


@pytest.fixture
def toy_metric():
    # share of samples whose answer is "4": a metric with one value per problem
    @METRICS.register("toy", key="toy_fours")
    def share_of_fours(p, k, item):
        return sum(a == "4" for a in p.answers) / p.n

    yield
    METRICS.remove("toy")


@pytest.fixture
def toy_advantage():
    @ADVANTAGES.register("toy")
    def masked_rewards(rewards, mask, group_size, **_):
        return rewards * mask

    yield
    ADVANTAGES.remove("toy")


def test_a_registered_metric_reaches_the_summary_and_the_table(toy_metric):
    problems = [ProblemSamples("a", ["4", "5"], [True, False]), ProblemSamples("b", ["4", "4"], [True, True])]
    out = summarize(problems, ks=[1], selectors=[], seed=0)
    assert out["toy_fours"]["value"] == pytest.approx((0.5 + 1.0) / 2) and out["toy_fours"]["n"] == 2
    assert "| toy_fours | 0.750 |" in metrics_table(out)


def test_an_unregistered_metric_is_gone():
    problems = [ProblemSamples("a", ["4", "5"], [True, False])]
    assert "toy_fours" not in summarize(problems, ks=[1], selectors=[], seed=0)


def test_a_registered_advantage_estimator_validates(toy_advantage):
    cfg = compose("airl", ["experiment=tiny_airl", "method.advantage=toy"])
    typed = validate(cfg, AIRLRunConfig, "config")
    assert typed.method.advantage == "toy"
    rewards, mask = torch.ones(2, 3), torch.tensor([[1.0, 1.0, 0.0], [1.0, 0.0, 0.0]])
    assert torch.equal(ADVANTAGES.get("toy")(rewards, mask, 2), mask)


def test_an_unregistered_advantage_estimator_is_refused():
    cfg = compose("airl", ["experiment=tiny_airl", "method.advantage=toy"])
    with pytest.raises(ConfigError, match="advantage 'toy' unknown"):
        validate(cfg, AIRLRunConfig, "config")


def test_a_dataset_registers_by_being_in_the_data_package(tmp_path, monkeypatch):
    import sys

    import reasoning_irl.data as data

    (tmp_path / "toy_rows.py").write_text(
        "from reasoning_irl.data.base import DATASETS, DatasetConfig\n\n\n"
        "@DATASETS.register('toy_rows', config=DatasetConfig, description='rows for a test')\n"
        "def load(cfg, split):\n    return []\n"
    )
    monkeypatch.setattr(data, "__path__", [*data.__path__, str(tmp_path)])
    try:
        data._import_datasets()
        assert "toy_rows" in data.DATASETS and data.dataset_config({"name": "toy_rows"}).name == "toy_rows"
    finally:
        data.DATASETS.remove("toy_rows")
        sys.modules.pop("reasoning_irl.data.toy_rows", None)


def test_a_registered_reward_is_logged_under_its_registered_name():
    from reasoning_irl.rewards import REWARDS, get_reward_functions

    @REWARDS.register("toy_reward")
    def always_one(prompts=None, completions=None, completion_ids=None, **kwargs):
        return [1.0 for _ in completions]

    try:
        assert get_reward_functions("toy_reward") == [always_one] and always_one.__name__ == "toy_reward"  # TRL's key
    finally:
        REWARDS.remove("toy_reward")
