"""A damaged file is named in one line before any model loads: a checkpoint file cut short on resume (weights,
trainer state, optimizer, run_info.json), and a reward-model folder whose weights were replaced by a pickle (never
unpickled)."""

from __future__ import annotations

import builtins
import shutil
from pathlib import Path

import pytest
import torch
from eval_helpers import eval_artifacts, one_thread  # noqa: F401  (fixtures)
from tiny_runs import SFT_SMALL

from reasoning_irl.cli import CONFIG_ERROR_EXIT, check_overrides, run_entry
from reasoning_irl.composition import compose
from reasoning_irl.config import ConfigError
from reasoning_irl.models.reward_model import load_reward_model
from reasoning_irl.training.sft import run_sft


def sft_config(artifacts, output_root: Path, *overrides: str):
    base = ["experiment=tiny_sft", f"output_root={output_root}", f"artifacts_dir={artifacts}", "run_name=run"]
    return compose("sft", [*base, *SFT_SMALL, "training.save_steps=1", *overrides])


@pytest.fixture(scope="module")
def trained_runs(artifacts, tmp_path_factory) -> dict[str, Path]:
    """Two-step SFT runs with checkpoint-1 and checkpoint-2: a LoRA adapter and a fully fine-tuned model."""
    runs = {}
    for kind, extra in (("lora", ()), ("full", ("model.lora=null",))):
        root = tmp_path_factory.mktemp(f"sft-{kind}")
        run_sft(sft_config(artifacts, root, "training.max_steps=2", *extra))
        runs[kind] = root
    return runs


def truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


DAMAGE = {  # case: (run, file in checkpoint-2, how it is damaged)
    "adapter-weights-cut-short": ("lora", "adapter_model.safetensors", truncate),
    "model-weights-cut-short": ("full", "model.safetensors", truncate),
    "trainer-state-not-json": ("lora", "trainer_state.json", lambda p: p.write_text('{"global_step": 2, "log_hist')),
    "optimizer-cut-short": ("lora", "optimizer.pt", truncate),
    "run-info-not-json": ("lora", "run_info.json", truncate),
}


@pytest.mark.parametrize("case", sorted(DAMAGE))
def test_resume_names_a_damaged_checkpoint_file_before_the_model_loads(
    case, trained_runs, artifacts, tmp_path, monkeypatch, capsys
):
    kind, name, spoil = DAMAGE[case]
    root = tmp_path / "runs"
    shutil.copytree(trained_runs[kind], root)
    damaged = root / "run" / "checkpoint-2" / name
    spoil(damaged)
    before = {p: p.read_bytes() for p in (root / "run").rglob("*") if p.is_file()}

    def no_model(*args, **kwargs):
        raise AssertionError("the model must not load from a damaged checkpoint")

    monkeypatch.setattr("reasoning_irl.training.sft.load_policy", no_model)
    extra = ("model.lora=null",) if kind == "full" else ()
    cfg = sft_config(artifacts, root, "training.max_steps=3", "training.resume_from=auto", *extra)
    capsys.readouterr()
    with pytest.raises(SystemExit) as stopped:
        run_entry(run_sft, cfg)
    assert stopped.value.code == CONFIG_ERROR_EXIT
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in err, err[-2000:]
    assert errors[0].startswith(f"error: {damaged}: damaged (not a complete ")
    assert errors[0].endswith(
        "resume from the checkpoint before it: remove checkpoint-2 (training.resume_from=auto then takes "
        f"checkpoint-1) or set training.resume_from={root / 'run' / 'checkpoint-1'}"
    )
    assert {p: p.read_bytes() for p in (root / "run").rglob("*") if p.is_file()} == before  # nothing touched


@pytest.mark.parametrize("content", [b"\x89\xff\x00 not text", b"null"], ids=["not-utf8", "json-but-not-an-object"])
def test_a_damaged_run_info_named_by_resume_from_is_refused_before_hydra(
    content, trained_runs, artifacts, tmp_path, capsys
):
    root = tmp_path / "runs"
    shutil.copytree(trained_runs["lora"], root)
    damaged = root / "run" / "checkpoint-2" / "run_info.json"
    damaged.write_bytes(content)
    before = {p: p.read_bytes() for p in root.rglob("*") if p.is_file()}
    base = ["experiment=tiny_sft", f"output_root={root}", f"artifacts_dir={artifacts}", "run_name=run", *SFT_SMALL]
    with pytest.raises(SystemExit) as stopped:  # what sft_train.py runs before Hydra writes into the run folder
        check_overrides("sft", [*base, "training.max_steps=3", f"training.resume_from={damaged.parent}"])
    assert stopped.value.code == CONFIG_ERROR_EXIT
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"error: {damaged}: damaged ("), err
    assert err.endswith(
        "remove checkpoint-2 (training.resume_from=auto then takes checkpoint-1) or set "
        f"training.resume_from={root / 'run' / 'checkpoint-1'}\n"
    )
    assert {p: p.read_bytes() for p in root.rglob("*") if p.is_file()} == before  # nothing written


class CreatesMarker:
    """Unpickling this calls ``open(marker, "w")``: the marker exists afterwards iff the pickle's code ran."""

    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return builtins.open, (self.marker, "w")


@pytest.fixture
def full_reward_model(eval_artifacts, tmp_path) -> Path:
    """A reward model saved without LoRA (model.safetensors at its root)."""
    from reasoning_irl.models.loading import load_tokenizer
    from reasoning_irl.models.reward_model import TokenRewardModel

    backbone = str(eval_artifacts["backbone"])
    return TokenRewardModel(backbone).save(tmp_path / "rm_full", tokenizer=load_tokenizer(backbone))


@pytest.mark.parametrize(
    ("layout", "weights", "pickle"),
    [("lora", "adapter_model.safetensors", "adapter_model.bin"), ("full", "model.safetensors", "pytorch_model.bin")],
)
def test_a_pickle_in_place_of_reward_weights_is_named_and_never_unpickled(
    layout, weights, pickle, eval_artifacts, full_reward_model, tmp_path
):
    from reasoning_irl.evaluation.config import IRLEvalConfig, typed_config

    folder = tmp_path / "rm"
    shutil.copytree(eval_artifacts["rm"] if layout == "lora" else full_reward_model, folder)
    marker = tmp_path / "pwned"
    (folder / weights).unlink()
    torch.save({"state": CreatesMarker(str(marker))}, folder / pickle)
    says = rf"^{folder / pickle}: a pickle in place of {weights}; refused unread \(unpickling can run code"
    with pytest.raises(ConfigError, match=says):  # at config time: evaluate_irl checks the folder first
        typed_config(compose("evaluate_irl", [f"reward_model_path={folder}"]), IRLEvalConfig)
    with pytest.raises(ConfigError, match=says):
        load_reward_model(folder)
    assert not marker.exists()


def test_cut_short_reward_weights_are_named(eval_artifacts, tmp_path):
    folder = tmp_path / "rm"
    shutil.copytree(eval_artifacts["rm"], folder)
    truncate(folder / "adapter_model.safetensors")
    with pytest.raises(ConfigError, match=rf"^{folder / 'adapter_model.safetensors'}: damaged \(not a complete "):
        load_reward_model(folder)
