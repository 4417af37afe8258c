"""bench/real_model.py (`make real`) and bench/frozen_lm_reward.py, on the tiny models: the one-line refusals, what a
stage's own outputs say, and that the frozen LM's reward model gives each token its log-probability under the LM."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM

from reasoning_irl.models import ensure_tiny_model
from reasoning_irl.models.reward_model import load_reward_model

REPO = Path(__file__).resolve().parents[1]
if str(REPO / "bench") not in sys.path:  # bench/ is a folder of scripts, not a package
    sys.path.insert(0, str(REPO / "bench"))

import answer_baselines  # noqa: E402
import frozen_lm_reward  # noqa: E402
import real_model  # noqa: E402


def test_make_real_refuses_without_the_converted_model(tmp_path, capsys):
    assert real_model.main(["--artifacts", str(tmp_path), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"error: no converted model in {tmp_path}: run `make real-model ARTIFACTS={tmp_path}`"
    assert not (tmp_path / "out").exists()


def test_a_training_stage_reports_its_step_times_and_sampling(tmp_path):
    run = tmp_path / "real_smollm2_airl-s0"
    run.mkdir()
    rows = [
        {"step": 1, "step_time": 10.0, "time/generate": 4.0, "completions/mean_length": 64.0,
         "completions/clipped_ratio": 1.0, "disc/loss": 0.7, "time/disc_update": 3.0},
        {"step": 2, "step_time": 8.0, "time/generate": 3.0, "completions/mean_length": 60.0,
         "completions/clipped_ratio": 0.5, "disc/loss": 0.6, "time/disc_update": 2.0},
        {"step": 2, "train_runtime": 18.5},
    ]  # fmt: skip
    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    stage = real_model.Stage("airl", [], run / "reward_model")
    real_model.describe(stage)
    assert stage.notes == [
        "2 steps, 9.0 s a step (first 10.0 s)",
        "sampling 64 tokens a completion (100% cut at the length limit) in 4.0 s",
        "discriminator update 2.5 s a step",
    ]
    sft = tmp_path / "real_smollm2_sft-s0"
    sft.mkdir()
    (sft / "metrics.jsonl").write_text(
        json.dumps({"step": 4, "loss": 1.0}) + "\n" + json.dumps({"step": 4, "train_runtime": 60.0}) + "\n"
    )
    stage = real_model.Stage("sft", [], sft / "final")
    real_model.describe(stage)
    assert stage.notes == ["4 steps in 60 s: 15.0 s a step"]


def test_the_frozen_lm_reward_of_a_token_is_its_log_probability(tmp_path):
    model_dir = ensure_tiny_model(tmp_path / "tiny", arch="qwen2", preset="policy")
    folder = frozen_lm_reward.frozen_lm_reward_model(model_dir, tmp_path / "frozen")
    reward, _ = load_reward_model(folder)
    lm = AutoModelForCausalLM.from_pretrained(model_dir).eval()
    ids = torch.tensor([[3, 17, 9, 42, 5, 11]])
    with torch.no_grad():
        got = reward.eval()(ids, torch.ones_like(ids))
        logps = torch.log_softmax(lm(ids).logits.float(), dim=-1)
    expected = [0.0] + [logps[0, t - 1, ids[0, t]].item() for t in range(1, ids.size(1))]
    torch.testing.assert_close(got[0], torch.tensor(expected), atol=1e-5, rtol=0)
    assert reward.lora is None and reward.lm_prior  # the LM itself, no adapter
    assert frozen_lm_reward.frozen_lm_reward_model(model_dir, tmp_path / "frozen") == folder  # built once


def test_answer_baselines_by_hand():
    rows = [
        {"greedy": True, "correct": True, "gold": "18", "completion": "so 18.\n#### 18"},
        {"greedy": True, "correct": False, "gold": "3", "completion": "2 + 1 = 3, so the answer is 3."},
        {"greedy": True, "correct": False, "gold": "1,200", "completion": "it costs 1,200 dollars"},
        {"greedy": True, "correct": False, "gold": "4", "completion": "no number here"},
        {"greedy": False, "correct": True, "gold": "4", "completion": "#### 4"},  # a sample: not counted
    ]
    assert answer_baselines.last_number("a 1,200 b 3.5 c") == "3.5" and answer_baselines.last_number("x") is None
    assert answer_baselines.gold_of("so 2,000\n#### 2,000") == "2000"
    got = answer_baselines.baselines(rows, ["4", "4", "18"], seed=0)
    assert [round(v[0], 4) for v in got.values()] == [0.25, 0.75, 0.25]
    assert list(got)[2] == "the most frequent training answer (4) for every problem"
    for mean, low, high in got.values():
        assert low <= mean <= high
