"""Run folders: ``<output_root>/<run_name>/`` with config.yaml, metrics.jsonl, checkpoint-<step>/, final/.

A run folder belongs to one configuration: resuming it (or pointing ``training.resume_from`` at one
of its checkpoints) with a different model, dataset or method is refused, never half-mixed.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any, Optional

import yaml

from reasoning_irl.config import ConfigError

CHECKPOINT_RE = re.compile(r"^checkpoint-(\d+)$")
RUN_INFO = "run_info.json"
# Keys that define what a run *is*; anything else (steps, logging, resume) may change on resume.
IDENTITY_KEYS = ("model", "reward_model", "dataset", "method")


def atomic_write_text(path: Path, text: str) -> None:
    """Write through a temporary sibling and rename, so readers never see a partial file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes the file 0600; give it the permissions open() would
    os.replace(tmp, path)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def is_main_process() -> bool:
    """Whether this process writes the run folder: the only one, or rank 0 of ``accelerate launch``/torchrun.

    Read from ``RANK`` rather than from a process group, which does not exist yet when the folder is prepared
    (joining one early is no option: transformers' ``save_pretrained`` then writes nothing on the other ranks,
    so a tiny model built there would be incomplete)."""
    return int(os.environ.get("RANK", "0")) == 0


def run_fingerprint(cfg: dict[str, Any]) -> str:
    """A short hash of the identity keys of a resolved config."""
    identity = {k: cfg.get(k) for k in IDENTITY_KEYS}
    return hashlib.sha256(json.dumps(identity, sort_keys=True, default=str).encode()).hexdigest()[:16]


def checkpoints(run_dir: Path) -> list[Path]:
    """Complete checkpoint folders of a run, oldest first (staging folders are never listed)."""
    if not run_dir.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in run_dir.iterdir() if (m := CHECKPOINT_RE.match(p.name)) and p.is_dir()]
    return [p for _, p in sorted(found)]


def check_checkpoint(path: Path, fingerprint: str) -> None:
    """Refuse a checkpoint that is incomplete or was written by a run with another identity."""
    info_file = path / RUN_INFO
    if not (path / "trainer_state.json").is_file() or not info_file.is_file():
        raise ConfigError(f"{path} is not a complete checkpoint of this project (no trainer_state.json/{RUN_INFO})")
    info = json.loads(info_file.read_text())
    if info.get("fingerprint") != fingerprint:
        raise ConfigError(
            f"checkpoint {path} was written by a different run (model/dataset/method differ: "
            f"{info.get('fingerprint')} != {fingerprint}); resume it with its own config"
        )


def resolve_resume(run_dir: Path, resume_from: Optional[str], fingerprint: str) -> Optional[str]:
    """The checkpoint to resume from: None, the latest of this run (``auto``), or a given folder."""
    if resume_from is None:
        return None
    if resume_from == "auto":
        found = checkpoints(run_dir)
        if not found:
            return None
        path = found[-1]
    else:
        path = Path(resume_from)
        if not path.is_dir():
            raise ConfigError(f"training.resume_from: checkpoint {resume_from} does not exist")
    check_checkpoint(path, fingerprint)
    return str(path)


def prepare_run_dir(output_root: str, run_name: str, cfg: dict[str, Any], resume_from: Optional[str],
                    write: bool = True) -> Path:
    """Create the run folder and write config.yaml; refuse to clobber a run that has checkpoints.

    ``write=False`` only checks (the non-main processes of a multi-process run)."""
    run_dir = Path(output_root) / run_name
    config_file = run_dir / "config.yaml"
    if resume_from is None and checkpoints(run_dir):
        raise ConfigError(
            f"run folder {run_dir} already has checkpoints; set training.resume_from=auto to continue it "
            "or choose another run_name"
        )
    if config_file.is_file() and resume_from is not None:
        old = yaml.safe_load(config_file.read_text()) or {}
        if run_fingerprint(old) != run_fingerprint(cfg):
            changed = [k for k in IDENTITY_KEYS if old.get(k) != cfg.get(k)]
            raise ConfigError(f"run folder {run_dir} holds another run ({', '.join(changed)} differ); choose another run_name")
    if write:
        atomic_write_text(config_file, yaml.safe_dump(cfg, sort_keys=False))
    return run_dir


def publish_folder(staging: Path, final: Path) -> None:
    """Move a fully written folder into place in one rename (replacing an older one of the same name)."""
    if final.exists():
        shutil.rmtree(final)
    os.replace(staging, final)
