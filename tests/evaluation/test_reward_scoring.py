"""The reward scoring settings are stated once and shared by evaluate.py, evaluate_irl.py and the scoring command;
the scoring command's key names are the evaluators'."""

from __future__ import annotations

import dataclasses
import inspect

import pytest
from eval_helpers import eval_artifacts  # noqa: F401  (fixture)

from reasoning_irl.config import ConfigError
from reasoning_irl.evaluation.config import EvalConfig, IRLEvalConfig
from reasoning_irl.evaluation.reward_scoring import RewardScoring
from reasoning_irl.evaluation.search import run_search
from reasoning_irl.models.api import RewardModel
from reasoning_irl.score import ScoreConfig, score_config


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


def test_reward_temperature_divides_token_rewards_and_step_rewards_add_them_up(eval_artifacts):
    model = RewardModel.from_pretrained(eval_artifacts["rm"])
    pairs = [("What is 3 + 4?", "3 + 4 = 7\n7 * 2 = 14\n<answer>14</answer>")]
    (plain,) = model.score_batch(pairs)
    (halved,) = model.score_batch(pairs, temperature=2.0)
    assert halved.tokens == plain.tokens and halved.step_tokens == plain.step_tokens and len(plain.steps) == 3
    assert halved.token_rewards == pytest.approx([r / 2 for r in plain.token_rewards], rel=1e-6)
    assert halved.step_rewards == pytest.approx([sum(halved.token_rewards[a:b]) for a, b in halved.step_tokens])
    assert model.score(*pairs[0], temperature=2.0) == halved
