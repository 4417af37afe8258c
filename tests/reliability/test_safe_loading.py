"""Resuming never executes code from a checkpoint: a file replaced by a pickle that calls something is refused in one line."""

from __future__ import annotations

import builtins

import pytest
import torch
from tiny_runs import LEARNING_REWARDS

from reasoning_irl.cli import CONFIG_ERROR_EXIT, run_entry
from reasoning_irl.composition import compose
from reasoning_irl.training.airl.run import run_airl
from reasoning_irl.training.airl.trainer import AIRL_STATE
from reasoning_irl.training.grpo import run_grpo
from reasoning_irl.training.sft import run_sft
from reasoning_irl.training.trl_adapter import GENERATION_BUFFER

AIRL_SMALL = ["sampling.max_completion_length=8", "method.disc_updates_per_step=2", "method.perturbations_per_expert=2"]


class CreatesMarker:
    """Unpickling this calls ``open(marker, "w")``: the marker file exists afterwards iff the pickle's code ran."""

    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return builtins.open, (self.marker, "w")


def plant(path, marker) -> None:
    """Replace a checkpoint file by the malicious pickle, and show that an unguarded load would run it."""
    torch.save({"state": CreatesMarker(str(marker))}, path)
    torch.load(path, weights_only=False)
    assert marker.exists()
    marker.unlink()


def config(method: str, artifacts, out, *overrides: str):
    common = [
        "training.save_steps=1",
        "training.logging_steps=1",
        "model.lora.r=4",
        "model.lora.alpha=8",
        "dataset.num_train=16",
        "dataset.num_test=4",
        "dataset.no_system=true",
    ]
    if method == "sft":
        common += ["training.per_device_batch_size=4", "method.max_length=160"]
    elif method == "grpo":
        common += ["sampling.num_generations=4", "sampling.max_completion_length=8", LEARNING_REWARDS]
    else:
        common += AIRL_SMALL
    return compose(
        method,
        [
            f"experiment=tiny_{method}",
            f"output_root={out}",
            f"artifacts_dir={artifacts}",
            "run_name=run",
            *common,
            *overrides,
        ],
    )


RUNS = {"sft": run_sft, "grpo": run_grpo, "airl": run_airl}
# The project's own extra state (AIRL discriminator state, GRPO's buffered batch) and one of the Trainer's files.
PLANTED = [("airl", AIRL_STATE), ("grpo", GENERATION_BUFFER.format(rank=0)), ("sft", "rng_state.pth")]


@pytest.mark.parametrize(("method", "filename"), PLANTED)
def test_resume_refuses_a_file_that_would_run_code(method, filename, artifacts, tmp_path, capsys):
    run = RUNS[method]
    run(config(method, artifacts, tmp_path, "training.max_steps=1"))
    checkpoint = tmp_path / "run" / "checkpoint-1"
    marker = tmp_path / "pwned"
    plant(checkpoint / filename, marker)
    capsys.readouterr()
    with pytest.raises(SystemExit) as stopped:
        run_entry(run, config(method, artifacts, tmp_path, "training.max_steps=2", "training.resume_from=auto"))
    assert stopped.value.code == CONFIG_ERROR_EXIT
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in err, err[-2000:]
    assert errors[0].startswith(f"error: refused to load {checkpoint}")
    assert "it holds more than tensors and plain data" in errors[0]
    assert not marker.exists()
    assert not (tmp_path / "run" / "checkpoint-2").exists()
