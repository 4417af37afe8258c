"""Atomic checkpoints for any transformers Trainer subclass.

The Trainer writes ``checkpoint-<step>/`` in place; a crash mid-save would leave a folder that
looks like the latest checkpoint. Here every checkpoint is written under ``<run_dir>/.staging/``
and renamed into place only when complete, together with ``run_info.json`` (the run's identity), and
only when none of its weights is NaN or inf.
"""

from __future__ import annotations

import contextlib
import json
import pickle
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Optional

import torch

from reasoning_irl.config import ConfigError
from reasoning_irl.models.saved_files import check_intact
from reasoning_irl.runs import CHECKPOINT_PREFIX, RUN_INFO, checkpoints, publish_folder, resume_advice, writing_into
from reasoning_irl.training.divergence import first_non_finite, unpublished

STAGING = ".staging"


def safe_load(path: Path, map_location: Any = None) -> Any:
    """``torch.load`` that never runs code: tensors and plain data only; anything else is one ConfigError line."""
    with refusing_code(path):
        return torch.load(path, map_location=map_location, weights_only=True)


@contextlib.contextmanager
def refusing_code(where: Any) -> Iterator[None]:
    """Turn torch's weights-only refusal (a file that would import or call something) into one line."""
    try:
        yield
    except pickle.UnpicklingError as exc:
        found = re.search(r"Unsupported global: GLOBAL (\S+)", str(exc))
        reason = f"it would load {found.group(1)}" if found else (str(exc).splitlines() or ["unreadable"])[0][:200]
        raise ConfigError(
            f"refused to load {where}: it holds more than tensors and plain data ({reason}); "
            "a damaged or tampered file: delete that checkpoint or resume from another"
        ) from None


@contextlib.contextmanager
def plain_cpu_map_location(device: torch.device) -> Iterator[None]:
    """transformers 5.17 loads a multi-process CPU run's optimizer state onto ``args.device``, an indexed CPU device
    (``cpu:0``) that torch.load cannot restore to; later versions pass "cpu". Rewritten to "cpu" for this load only."""
    if device.type != "cpu" or device.index is None:
        yield
        return
    load = torch.load

    def load_on_cpu(*args: Any, **kwargs: Any) -> Any:
        if kwargs.get("map_location") == device:
            kwargs["map_location"] = "cpu"
        return load(*args, **kwargs)

    torch.load = load_on_cpu
    try:
        yield
    finally:
        torch.load = load


def check_resumable(checkpoint: Path) -> None:
    """Every file of the checkpoint to resume from can be read (a file cut short by a full disk or a killed copy
    fails deep in the Trainer's resume otherwise): refused in one line naming it, before any model loads."""
    check_intact(checkpoint, resume_advice(checkpoint))


class AtomicCheckpointMixin:
    """Mix in before the Trainer class: ``class T(AtomicCheckpointMixin, SFTTrainer)``.

    Set ``self.run_fingerprint`` before training. Subclasses add state with :meth:`save_extra_state`.
    """

    run_fingerprint: str = ""

    def save_extra_state(self, checkpoint_dir: str) -> None:
        """Write more state into a checkpoint being staged (e.g. a discriminator). Called on every rank."""

    # transformers loads these files with weights_only=True already; a refused file becomes one line here.
    def _load_optimizer_and_scheduler(self, checkpoint: Optional[str]):
        with refusing_code(checkpoint), plain_cpu_map_location(self.args.device):
            super()._load_optimizer_and_scheduler(checkpoint)

    def _load_from_checkpoint(self, resume_from_checkpoint: str, model: Any = None) -> None:
        super()._load_from_checkpoint(resume_from_checkpoint, model)
        # A PEFT checkpoint with a second adapter in a subfolder (TRL's frozen "ref" copy, when GRPO starts from a
        # trained adapter): transformers <= 5.17 loads only the subfolder adapters and never the top-level "default"
        # one, so the run would resume from the initial adapter. Loading it again is harmless where transformers does.
        model = self.model if model is None else model
        top = Path(resume_from_checkpoint)

        def holds_adapter(folder: Path) -> bool:
            return any((folder / name).is_file() for name in ("adapter_model.safetensors", "adapter_model.bin"))

        if hasattr(model, "load_adapter") and hasattr(model, "active_adapters") and holds_adapter(top):
            if any(sub.is_dir() and holds_adapter(sub) for sub in top.iterdir()):
                active = model.active_adapters[0]
                model.load_adapter(str(top), active, is_trainable=True)
                model.set_adapter(active)

    def _load_rng_state(self, checkpoint: Optional[str]):
        with refusing_code(checkpoint):
            super()._load_rng_state(checkpoint)

    def _save_checkpoint(self, model, trial):
        run_dir = Path(self._get_output_dir(trial=trial))
        staging_root = run_dir / STAGING
        name = f"{CHECKPOINT_PREFIX}-{self.state.global_step}"
        if self.args.should_save:
            shutil.rmtree(staging_root, ignore_errors=True)
        self.accelerator.wait_for_everyone()
        # Point the Trainer's own save at the staging folder for the duration of this call.
        self._get_output_dir = lambda trial=None: str(staging_root)
        try:
            with self._writing_staged(run_dir, name):
                super()._save_checkpoint(model, trial)
                self.save_extra_state(str(staging_root / name))
        finally:
            del self._get_output_dir
        self.accelerator.wait_for_everyone()
        self._refuse_non_finite(staging_root / name, name, run_dir)
        if self.args.should_save:
            with self._writing_staged(run_dir, name):
                (staging_root / name / RUN_INFO).write_text(json.dumps({"fingerprint": self.run_fingerprint}))
                publish_folder(staging_root / name, run_dir / name)
            shutil.rmtree(staging_root, ignore_errors=True)
            limit = self.args.save_total_limit
            if limit:
                for old in checkpoints(run_dir)[:-limit]:
                    shutil.rmtree(old)
        self.accelerator.wait_for_everyone()

    def save_final(self, run_dir: Path) -> Path:
        """Save the trained model (adapter) and tokenizer to ``<run_dir>/final`` atomically."""
        staging = run_dir / STAGING / "final"
        if self.args.should_save:
            shutil.rmtree(staging, ignore_errors=True)
        with self._writing_staged(run_dir, "final"):
            self.save_model(str(staging))
        self._refuse_non_finite(staging, "final", run_dir)
        if self.args.should_save:
            with self._writing_staged(run_dir, "final"):
                (staging / RUN_INFO).write_text(json.dumps({"fingerprint": self.run_fingerprint}))
                publish_folder(staging, run_dir / "final")
            shutil.rmtree(run_dir / STAGING, ignore_errors=True)
        self.accelerator.wait_for_everyone()
        return run_dir / "final"

    @contextlib.contextmanager
    def _writing_staged(self, run_dir: Path, what: str) -> Iterator[None]:
        """A staged save that fails is deleted (on a full disk that gives the space back); on a full disk or an
        unwritable folder the run ends in one line. Published checkpoints are never touched."""
        found = checkpoints(run_dir)
        then = (
            f"then resume with training.resume_from=auto: {what} was not published; the last good checkpoint "
            f"{found[-1]} is intact"
            if found
            else f"then start again: {what} was not published, and no checkpoint was saved before it"
        )
        try:
            with writing_into(run_dir, then):
                yield
        except BaseException:
            if self.args.should_save:
                shutil.rmtree(run_dir / STAGING, ignore_errors=True)
            raise

    def _refuse_non_finite(self, staged: Path, what: str, run_dir: Path) -> None:
        """The last line of defence: a staged folder holding a NaN/inf tensor is deleted, never published."""
        from accelerate.utils import broadcast_object_list

        bad = first_non_finite(staged) if self.args.should_save else None
        bad = broadcast_object_list([bad])[0]  # the main process read the files: every process stops with it
        if bad is None:
            return
        if self.args.should_save:
            shutil.rmtree(run_dir / STAGING, ignore_errors=True)
        raise unpublished(what, bad, self.state.global_step, run_dir)
