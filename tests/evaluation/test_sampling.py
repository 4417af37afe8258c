"""Policy resolution and seeded sampling: shapes, determinism, independence of batch composition."""

from __future__ import annotations

import json
import shutil

import pytest
from eval_helpers import eval_artifacts, one_thread  # noqa: F401  (fixtures)

from reasoning_irl.config import ConfigError
from reasoning_irl.data import load_split
from reasoning_irl.evaluation.sampling import PolicySpec, load_eval_policy, resolve_policy, sample_hf, sample_vllm


@pytest.fixture(scope="module")
def policy(eval_artifacts):
    spec = resolve_policy(str(eval_artifacts["adapter"]), None, str(eval_artifacts["root"]))
    model, tokenizer = load_eval_policy(spec)
    records = load_split({"name": "synthetic", "num_test": 8}, "test")[:3]
    return model, tokenizer, [r["prompt"] for r in records], [r["id"] for r in records]


def _sample(policy, **kw):
    model, tok, prompts, ids = policy
    args = dict(n=3, temperature=1.0, top_p=0.95, max_new_tokens=12, seed=0, batch_size=4, progress=False)
    args.update(kw)
    return sample_hf(model, tok, prompts, ids, **args)


def test_shapes(policy):
    model, tok, prompts, _ = policy
    out = _sample(policy)
    assert len(out) == len(prompts)
    eos = {tok.eos_token_id}
    for got in out:
        assert len(got.samples) == 3 and got.greedy is not None
        for ids in [*got.samples, got.greedy]:
            assert 1 <= len(ids) <= 12
            assert not (set(ids[:-1]) & eos)  # cut right after the first end token
    assert len({tuple(s) for got in out for s in got.samples}) > 1


def test_deterministic_for_a_seed_whatever_the_batches(policy):
    a = _sample(policy)
    assert [x.samples for x in a] == [x.samples for x in _sample(policy)]
    # other batch size and reversed problem order: the per-(problem, sample) streams are the same
    model, tok, prompts, ids = policy
    b = sample_hf(model, tok, prompts[::-1], ids[::-1], 3, 1.0, 0.95, 12, 0, batch_size=7, progress=False)[::-1]
    assert [x.samples for x in a] == [x.samples for x in b]
    assert [x.greedy for x in a] == [x.greedy for x in b]
    c = _sample(policy, seed=1)
    assert [x.samples for x in a] != [x.samples for x in c]
    assert [x.greedy for x in a] == [x.greedy for x in c]  # greedy ignores the seed


def test_greedy_matches_plain_generate(policy):
    import torch

    from reasoning_irl.data import render_prompt

    model, tok, prompts, ids = policy
    got = _sample(policy, n=1)[0].greedy
    enc = tok(render_prompt(tok, prompts[0]), add_special_tokens=False, return_tensors="pt")
    with torch.no_grad():
        ref = model.generate(**enc, do_sample=False, max_new_tokens=12, repetition_penalty=1.0)[
            0, enc["input_ids"].shape[1] :
        ]
    ref = ref.tolist()
    assert got == ref[: len(got)]


def test_resolve_policy_forms(eval_artifacts, tmp_path):
    root = str(eval_artifacts["root"])
    # a run folder means its final/; the relative tiny base is found in artifacts_dir
    spec = resolve_policy(str(eval_artifacts["run"]), None, root)
    assert spec.adapter == str(eval_artifacts["adapter"]) and spec.base == str(eval_artifacts["policy"])
    assert resolve_policy(str(eval_artifacts["policy"]), None, root) == PolicySpec(
        base=str(eval_artifacts["policy"]), tokenizer=str(eval_artifacts["policy"])
    )
    assert resolve_policy("Qwen/Qwen2.5-0.5B-Instruct", None).base == "Qwen/Qwen2.5-0.5B-Instruct"  # hub id
    with pytest.raises(ConfigError, match="does not exist"):
        resolve_policy(str(tmp_path / "missing"), None)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="neither"):
        resolve_policy(str(tmp_path / "empty"), None)
    # an adapter whose base is gone and whose run config names no tiny model: one clear error
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "adapter_config.json").write_text(json.dumps({"base_model_name_or_path": "./gone"}))
    with pytest.raises(ConfigError, match="base model"):
        resolve_policy(str(bad), None)


def test_a_relative_base_is_found_from_a_folder_above_the_adapter(eval_artifacts, tmp_path, monkeypatch):
    """A run started in another folder records its base relative to that folder (the demo: outputs/demo-s0/...);
    evaluated from elsewhere, the base is found from the folders above the adapter, and a path that exists
    nowhere is one error line, not a hub lookup."""
    project = tmp_path / "project"
    base = project / "outputs" / "base"
    shutil.copytree(eval_artifacts["policy"], base)
    adapter = project / "outputs" / "run" / "final"
    shutil.copytree(eval_artifacts["adapter"], adapter)
    config = json.loads((adapter / "adapter_config.json").read_text())
    (adapter / "adapter_config.json").write_text(json.dumps({**config, "base_model_name_or_path": "outputs/base"}))
    monkeypatch.chdir(tmp_path)  # outputs/base does not exist from here
    assert resolve_policy(str(adapter), None).base == str(base.resolve())
    (adapter / "adapter_config.json").write_text(json.dumps({**config, "base_model_name_or_path": "outputs/gone/x"}))
    with pytest.raises(ConfigError, match="base model 'outputs/gone/x' of the adapter does not exist"):
        resolve_policy(str(adapter), None)


def test_vllm_without_cuda_is_one_error(policy):
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    _, tok, prompts, ids = policy
    with pytest.raises(ConfigError, match="use_vllm=true needs a CUDA GPU"):
        sample_vllm(PolicySpec(base="x"), tok, prompts, ids, 2, 1.0, 1.0, 4, 0)
