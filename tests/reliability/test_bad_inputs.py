"""One clear line for bad inputs: an empty data file, vLLM asked for without a GPU, a reward-model head
that does not fit its backbone."""

from __future__ import annotations

import subprocess
import sys

import pytest

from reasoning_irl.composition import compose
from reasoning_irl.config import ConfigError


@pytest.fixture
def empty_gsm8k(tmp_path):
    folder = tmp_path / "gsm8k"
    folder.mkdir()
    for split in ("train", "test"):
        (folder / f"{split}.jsonl").write_text("\n")  # a blank line: no rows
    return folder


def test_data_preview_of_an_empty_split_is_one_error(empty_gsm8k, capsys):
    from reasoning_irl.data.__main__ import main

    for split, source in (("train", "train"), ("validation", "train"), ("test", "test")):
        assert main(["dataset=gsm8k", f"dataset.path={empty_gsm8k}", f"split={split}"]) == 2
        out, err = capsys.readouterr()
        assert out == ""
        assert err == f"error: split '{source}' of gsm8k is empty ({empty_gsm8k / f'{source}.jsonl'})\n"


@pytest.mark.parametrize("method", ["sft", "grpo", "airl"])
def test_training_on_an_empty_split_is_refused_before_the_model_loads(method, empty_gsm8k, tmp_path, monkeypatch):
    from reasoning_irl.training.airl.run import run_airl
    from reasoning_irl.training.grpo import run_grpo
    from reasoning_irl.training.sft import run_sft

    def no_model(*a, **k):
        raise AssertionError("the model must not load for an empty data set")

    for module in ("sft", "grpo", "airl.run"):
        monkeypatch.setattr(f"reasoning_irl.training.{module}.load_policy", no_model)
    cfg = compose(
        method,
        [
            f"experiment=tiny_{method}",
            "dataset=gsm8k",
            f"dataset.path={empty_gsm8k}",
            f"output_root={tmp_path / 'runs'}",
        ],
    )
    run = {"sft": run_sft, "grpo": run_grpo, "airl": run_airl}[method]
    with pytest.raises(ConfigError, match=r"^split 'train' of gsm8k is empty \(.*train\.jsonl\)$"):
        run(cfg)


def test_sft_cli_on_an_empty_split_is_one_line(repo_root, empty_gsm8k, tmp_path):
    proc = subprocess.run(
        [
            sys.executable,
            str(repo_root / "sft_train.py"),
            "experiment=tiny_sft",
            "dataset=gsm8k",
            f"dataset.path={empty_gsm8k}",
            f"output_root={tmp_path}",
        ],
        cwd=repo_root,
        capture_output=True,
        text=True,
        timeout=300,
    )
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 2 and lines == [
        f"error: split 'train' of gsm8k is empty ({empty_gsm8k / 'train.jsonl'})"
    ], proc.stderr
    assert [p.name for p in tmp_path.iterdir()] == ["gsm8k"]  # refused before Hydra: no run folder, no .hydra/


def test_airl_with_vllm_on_cpu_is_refused_like_grpo(tmp_path, monkeypatch):
    import reasoning_irl.models.loading as loading
    import reasoning_irl.training.grpo as grpo
    from reasoning_irl.training.airl.run import run_airl

    monkeypatch.setattr(loading, "cuda_available", lambda: False)
    for method, run in (("airl", run_airl), ("grpo", grpo.run_grpo)):
        cfg = compose(method, [f"experiment=tiny_{method}", "sampling.use_vllm=true", f"output_root={tmp_path}"])
        with pytest.raises(ConfigError, match=r"^sampling.use_vllm=true needs a CUDA GPU; set it to false on CPU$"):
            run(cfg)
