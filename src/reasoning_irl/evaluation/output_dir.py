"""Where an evaluation writes, and the checks that keep it from destroying earlier results.

Default folder (``output_dir: null``), named after what is evaluated, not after the preset:

* ``evaluate.py``: ``<output_root>/eval/<policy name>-<split>``; the policy name is the policy path relative to
  ``output_root`` (or its last two parts) with ``/`` as ``-``, e.g. ``outputs/tiny_airl-s0/final`` ->
  ``outputs/eval/tiny_airl-s0-final-test``; with ``policy: null`` the base model's name. With ``rescore_from``:
  ``<folder of the rescored file>-rescored``, beside it.
* ``evaluate_irl.py``: ``<output_root>/eval_irl/<reward model name>-<split>``.

In a multirun each job's default folder gets the job's swept ``key=value`` as a subfolder.

A folder that already holds files (other than Hydra's own log) is refused unless ``overwrite=true``; a folder
that holds an input of the evaluation (``rescore_from``, ``samples_from``) is always refused. While an evaluation
runs it holds its folder (:func:`claim_output_dir`): a second one into it is refused, with or without overwrite.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

from omegaconf import OmegaConf

from reasoning_irl.config import ConfigError
from reasoning_irl.folder_lock import LOCK_FILE, check_unclaimed, claim_folder
from reasoning_irl.runs import check_writable, sweep_job_name

RESOLVER = "eval_output_dir"


def path_name(path: str, output_root: str) -> str:
    """A folder name for a model path or hub id: relative to output_root when under it, else its last two parts."""
    p = Path(path).expanduser().resolve()
    try:
        parts = p.relative_to(Path(output_root).expanduser().resolve()).parts
    except ValueError:
        parts = p.parts[-2:]
    return "-".join(parts) or "model"


def default_output_dir(cfg: Any, kind: str, job: Optional[str] = None) -> str:
    """The derived folder of an ``evaluate`` or ``evaluate_irl`` config (a DictConfig or a typed config)."""
    if kind == "evaluate" and cfg.rescore_from:
        folder = Path(cfg.rescore_from).expanduser().parent
        out = folder.parent / f"{folder.name}-rescored"
    elif kind == "evaluate":
        name = path_name(cfg.policy or cfg.model.name_or_path, cfg.output_root)
        out = Path(cfg.output_root) / "eval" / f"{name}-{cfg.split}"
    else:
        name = path_name(cfg.reward_model_path, cfg.output_root) if cfg.reward_model_path else "reward_model"
        out = Path(cfg.output_root) / "eval_irl" / f"{name}-{cfg.split}"
    return str(out / job if job else out)


def output_dir_of(cfg: Any, kind: str) -> Path:
    """``output_dir`` when given, else the derived default (per multirun job)."""
    if cfg.output_dir:
        return Path(cfg.output_dir).expanduser()
    return Path(default_output_dir(cfg, kind, sweep_job_name()))


def _resolve(kind: str, *, _root_: Any) -> str:
    return str(_root_.output_dir) if _root_.output_dir else default_output_dir(_root_, kind)


def register_resolver() -> None:
    """``${eval_output_dir:evaluate}``: Hydra's run folder (log file) is the output folder."""
    if not OmegaConf.has_resolver(RESOLVER):
        OmegaConf.register_new_resolver(RESOLVER, _resolve)


def _same(a: Path, b: Path) -> bool:
    return a.expanduser().resolve() == b.expanduser().resolve()


def check_output_dir(out: Path, inputs: dict[str, Optional[str]], overwrite: bool, job_log: str) -> None:
    """Refuse an output folder that holds an input, or (unless overwrite) any file but Hydra's log ``job_log``."""
    for key, path in inputs.items():
        if path and _same(Path(path).expanduser().parent, out):
            raise ConfigError(f"output_dir {out} holds the input {key} ({path}); choose another output_dir")
    if overwrite or not out.is_dir():
        return
    held = sorted(p.name for p in out.iterdir() if p.name not in (job_log, LOCK_FILE))
    if held:
        raise ConfigError(
            f"output_dir {out} already holds results ({', '.join(held[:3])}); "
            "set overwrite=true to replace them, or choose another output_dir"
        )


IN_USE_HINT = "wait for that evaluation to end, or choose another output_dir"


def claim_output_dir(out: Path) -> None:
    """Hold ``out`` for this evaluation (reasoning_irl.folder_lock), after :func:`check_output_dir` passed; the
    evaluation function releases it when it ends (``releases_claims``)."""
    claim_folder(out, IN_USE_HINT)


def check_output_folder(out: Path, inputs: dict[str, Optional[str]], overwrite: bool, job_log: str) -> None:
    """Every check of the output folder, writing nothing, for the check the entry scripts make before Hydra creates
    the folder and its log file: no input or (unless overwrite) earlier results in it, writable, not in use."""
    check_output_dir(out, inputs, overwrite, job_log)
    check_writable(out, "output_dir")
    check_unclaimed(out, IN_USE_HINT)
