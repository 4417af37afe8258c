"""A reward-model folder whose head does not fit its backbone is refused in one line that says what differs."""

from __future__ import annotations

import json
import shutil

import pytest
from eval_helpers import eval_artifacts, one_thread  # noqa: F401  (fixtures)
from safetensors.torch import load_file, save_file

from reasoning_irl.config import ConfigError
from reasoning_irl.models.reward_model import HEAD_FILE, META_FILE, load_reward_model


def _copy(eval_artifacts, tmp_path):
    folder = tmp_path / "rm"
    shutil.copytree(eval_artifacts["rm"], folder)
    return folder, json.loads((folder / META_FILE).read_text())


def test_backbone_of_another_width_is_named(eval_artifacts, tmp_path):
    folder, meta = _copy(eval_artifacts, tmp_path)
    policy = json.loads((eval_artifacts["policy"] / "config.json").read_text())
    assert policy["hidden_size"] != meta["hidden_size"]  # the tiny policy is narrower than the reward backbone
    meta["backbone"] = str(eval_artifacts["policy"])
    (folder / META_FILE).write_text(json.dumps(meta))
    with pytest.raises(
        ConfigError,
        match=rf"the head takes hidden_size {meta['hidden_size']}, but backbone .* "
        rf"has hidden_size {policy['hidden_size']}$",
    ):
        load_reward_model(folder)


def test_backbone_of_another_architecture_is_named(eval_artifacts, tmp_path):
    folder, meta = _copy(eval_artifacts, tmp_path)
    assert meta["model_type"] == "qwen2"
    meta["model_type"] = "llama"
    (folder / META_FILE).write_text(json.dumps(meta))
    with pytest.raises(ConfigError, match=r"trained on a llama backbone, but .* is a qwen2 \(architecture differs\)$"):
        load_reward_model(folder)


def test_head_of_another_width_is_named(eval_artifacts, tmp_path):
    folder, meta = _copy(eval_artifacts, tmp_path)
    head = load_file(str(folder / HEAD_FILE))
    save_file({"weight": head["weight"][:, :8].contiguous(), "bias": head["bias"]}, str(folder / HEAD_FILE))
    with pytest.raises(
        ConfigError, match=rf"{HEAD_FILE} takes hidden_size 8 but the backbone has {meta['hidden_size']}$"
    ):
        load_reward_model(folder)
    shutil.copy(eval_artifacts["rm"] / HEAD_FILE, folder / HEAD_FILE)
    model, _ = load_reward_model(folder)  # the untouched folder still loads
    assert model.hidden_size == meta["hidden_size"]
