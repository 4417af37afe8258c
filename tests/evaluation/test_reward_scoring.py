"""The reward scoring settings are stated once and shared by evaluate.py, evaluate_irl.py and the scoring command;
the scoring command's key names are the evaluators'."""

from __future__ import annotations

import dataclasses
import inspect

import pytest

from reasoning_irl.config import ConfigError
from reasoning_irl.evaluation.config import EvalConfig, IRLEvalConfig
from reasoning_irl.evaluation.reward_scoring import RewardScoring
from reasoning_irl.evaluation.search import run_search
from reasoning_irl.models.api import ScoredSolution
from reasoning_irl.score import ScoreConfig, at_temperature, score_config


def test_every_scorer_has_the_same_scoring_keys_and_defaults():
    shared = {f.name: getattr(RewardScoring(), f.name) for f in dataclasses.fields(RewardScoring)}
    for schema in (EvalConfig, IRLEvalConfig, ScoreConfig):
        assert issubclass(schema, RewardScoring)
        assert {name: getattr(schema(), name) for name in shared} == shared, schema.__name__
    assert inspect.signature(run_search).parameters["gamma"].default == RewardScoring.gamma


def test_the_scoring_command_takes_the_evaluators_key_names(tmp_path):
    cfg = score_config([f"reward_model_path={tmp_path}", "input=rows.jsonl", "output=out", "gamma=0.5"])
    assert (cfg.reward_model_path, cfg.gamma, cfg.reward_batch_size) == (
        str(tmp_path),
        0.5,
        RewardScoring.reward_batch_size,
    )
    for old, new in (("reward_model", "reward_model_path"), ("batch_size", "reward_batch_size")):
        with pytest.raises(ConfigError, match=f"^{old}= is now {new}="):
            score_config([f"{old}=x", "input=rows.jsonl", "output=out"])
    with pytest.raises(ConfigError, match="colour: unknown config key"):
        score_config([f"reward_model_path={tmp_path}", "input=rows.jsonl", "output=out", "colour=red"])
    with pytest.raises(ConfigError, match="gamma must be in"):
        score_config([f"reward_model_path={tmp_path}", "input=rows.jsonl", "output=out", "gamma=2"])


def test_reward_temperature_divides_token_rewards_and_step_rewards_add_them_up():
    scored = ScoredSolution(
        tokens=["a", "b", "\n", "c"],
        token_rewards=[1.0, 3.0, 0.5, -2.0],
        steps=["ab", "c"],
        step_tokens=[[0, 2], [3, 4]],
        step_rewards=[4.0, -2.0],
    )
    assert at_temperature(scored, 1.0) == scored
    halved = at_temperature(scored, 2.0)
    assert halved.token_rewards == [0.5, 1.5, 0.25, -1.0] and halved.step_rewards == [2.0, -1.0]
    assert halved.tokens == scored.tokens and halved.step_tokens == scored.step_tokens
