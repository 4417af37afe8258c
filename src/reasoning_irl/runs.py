"""Files and folders that training and evaluation both write and read: atomic writes, JSON and JSON lines,
run folders and their names in a sweep.

A run folder is ``<output_root>/<run_name>/`` with config.yaml, metrics.jsonl, checkpoint-<step>/, final/. It belongs
to one configuration: resuming it (or pointing ``training.resume_from`` at one of its checkpoints) with a different
model, dataset or method is refused, never half-mixed.

JSON outputs write NaN/inf floats as ``null`` (strict JSON, readable by any tool).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import math
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, Optional

import yaml

from reasoning_irl.config import ConfigError

CHECKPOINT_PREFIX = "checkpoint"  # transformers' PREFIX_CHECKPOINT_DIR, without importing the Trainer
CHECKPOINT_RE = re.compile(rf"^{CHECKPOINT_PREFIX}-(\d+)$")
RUN_INFO = "run_info.json"
# Keys that define what a run *is*; anything else (steps, logging, resume) may change on resume.
IDENTITY_KEYS = ("model", "reward_model", "dataset", "method")


def atomic_write_text(path: Path, text: str) -> None:
    """Write through a temporary sibling and rename, so readers never see a partial file."""
    with writing_into(path.parent, f"then run again: {path.name} was not written"):
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(text)
            os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes the file 0600; give it the permissions open() would
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)  # a partial temporary file would hold disk space and look like output
            raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def json_safe(value: Any) -> Any:
    """Replace non-finite floats by None, recursively (tuples become lists)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def write_json(path: Path, data: Any) -> None:
    atomic_write_text(path, json.dumps(json_safe(data), indent=2, ensure_ascii=False) + "\n")


def write_jsonl(path: Path, rows: Iterable[dict]) -> None:
    atomic_write_text(path, "".join(json.dumps(json_safe(r), ensure_ascii=False) + "\n" for r in rows))


def iter_jsonl(path: str | Path, where: Optional[str] = None) -> Iterator[tuple[int, dict[str, Any]]]:
    """``(line number, row)`` of each non-blank line of a JSON-lines file, read lazily; a missing file, a line that
    is not UTF-8 (:func:`undecodable_line`) and a line that is not a JSON object are one clear error each, prefixed
    with ``where`` (the config key or data set that named the file)."""
    prefix = f"{where}: " if where else ""
    file = Path(path).expanduser()
    if not file.is_file():
        raise ConfigError(f"{prefix}{path} does not exist")
    try:
        with open(file, encoding="utf-8") as handle:
            for lineno, line in enumerate(handle, 1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise ConfigError(f"{prefix}{path}:{lineno}: not valid JSON ({exc.msg})") from None
                except RecursionError:  # thousands of nested brackets: the parser gives up, with a traceback
                    raise ConfigError(f"{prefix}{path}:{lineno}: not valid JSON (nested too deeply)") from None
                if not isinstance(row, dict):
                    raise ConfigError(f"{prefix}{path}:{lineno}: expected a JSON object per line")
                yield lineno, row
    except UnicodeDecodeError:  # the decoder reads ahead in blocks: the line is found again byte by byte
        raise ConfigError(f"{prefix}{undecodable_line(file)}") from None
    except OSError as exc:  # no permission, a folder of that name
        raise ConfigError(f"{prefix}{path}: cannot be read ({exc.strerror or exc})") from None


def undecodable_line(file: Path) -> str:
    """``<file>:<line>: not UTF-8 (...)`` for the first line of ``file`` that does not decode."""
    with open(file, "rb") as handle:
        for lineno, line in enumerate(handle, 1):
            try:
                line.decode("utf-8")
            except UnicodeDecodeError as exc:
                where = f"byte 0x{line[exc.start]:02x} at column {exc.start + 1}"
                return f"{file}:{lineno}: not UTF-8 ({where}); save it as UTF-8"
    return f"{file}: not UTF-8; save it as UTF-8"


def read_jsonl(path: str | Path, where: Optional[str] = None) -> list[dict[str, Any]]:
    """Rows of a JSON-lines file (:func:`iter_jsonl`)."""
    return [row for _, row in iter_jsonl(path, where)]


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
    """Refuse a checkpoint that is incomplete or was written by a run with another identity. Its files are checked
    intact first (training's ``check_resumable``): a ``run_info.json`` that is not JSON is named there."""
    info_file = path / RUN_INFO
    if not (path / "trainer_state.json").is_file() or not info_file.is_file():
        raise ConfigError(f"{path} is not a complete checkpoint of this project (no trainer_state.json/{RUN_INFO})")
    info = json.loads(info_file.read_text(encoding="utf-8"))
    if not isinstance(info, dict):
        raise ConfigError(
            f"{info_file}: damaged (JSON, but not an object with the run's fingerprint); {resume_advice(path)}"
        )
    if info.get("fingerprint") != fingerprint:
        raise ConfigError(
            f"checkpoint {path} was written by a different run (model/dataset/method differ: "
            f"{info.get('fingerprint')} != {fingerprint}); resume it with its own config"
        )


def resume_advice(checkpoint: Path) -> str:
    """What to do when ``checkpoint`` cannot be resumed: take the one before it, or start again."""
    found = checkpoints(checkpoint.parent)
    earlier = found[: found.index(checkpoint)] if checkpoint in found else []
    if earlier:
        return (
            f"resume from the checkpoint before it: remove {checkpoint.name} (training.resume_from=auto then "
            f"takes {earlier[-1].name}) or set training.resume_from={earlier[-1]}"
        )
    return f"there is no earlier checkpoint to resume from: remove {checkpoint} and start the run again"


def chosen_checkpoint(run_dir: Path, resume_from: Optional[str]) -> Optional[Path]:
    """The checkpoint ``training.resume_from`` names: None, the latest of this run (``auto``), or a given folder."""
    if resume_from is None:
        return None
    if resume_from == "auto":
        found = checkpoints(run_dir)
        return found[-1] if found else None
    path = Path(resume_from)
    if not path.is_dir():
        raise ConfigError(f"training.resume_from: checkpoint {resume_from} does not exist")
    return path


def resolve_resume(run_dir: Path, resume_from: Optional[str], fingerprint: str) -> Optional[str]:
    """The checkpoint to resume from (:func:`chosen_checkpoint`), checked to be this run's."""
    path = chosen_checkpoint(run_dir, resume_from)
    if path is None:
        return None
    check_checkpoint(path, fingerprint)
    return str(path)


def prepare_run_dir(
    output_root: str, run_name: str, cfg: dict[str, Any], resume_from: Optional[str], write: bool = True
) -> Path:
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
            raise ConfigError(
                f"run folder {run_dir} holds another run ({', '.join(changed)} differ); choose another run_name"
            )
    if write:
        atomic_write_text(config_file, yaml.safe_dump(cfg, sort_keys=False))
    return run_dir


def publish_folder(staging: Path, final: Path) -> None:
    """Move a fully written folder into place in one rename (replacing an older one of the same name)."""
    if final.exists():
        shutil.rmtree(final)
    os.replace(staging, final)


# --- run folder names in a sweep --------------------------------------------------------------------------
SWEPT_KEYS_ENV = "REASONING_IRL_SWEPT_KEYS"
"""Set by the entry scripts for a multirun: the swept keys, for jobs that run where ``sys.argv`` is not the
command line (a SLURM job started by the submitit launcher sees submitit's own argv; the environment goes along)."""

_SWEEP_MARKERS = (",", "range(", "choice(", "glob(", "interval(")
# A list, dict or quoted string is one value, whatever commas it holds (``ks=[1,4,8]`` sweeps nothing).
_ONE_VALUE = re.compile(r"\[[^\]]*\]|\{[^}]*\}|'[^']*'|\"[^\"]*\"")


def swept_keys(argv: list[str]) -> list[str]:
    """Keys a multirun command line sweeps over (``seed=1,2``, ``+ablation=sparse,wgan``, ``x=range(3)``)."""
    keys = []
    for arg in argv:
        key, _, value = arg.partition("=")
        value = _ONE_VALUE.sub("", value)
        if value and not arg.startswith("-") and any(m in value for m in _SWEEP_MARKERS):
            keys.append(key.lstrip("+~"))
    return keys


def sweep_job_name() -> Optional[str]:
    """In a Hydra multirun, this job's swept ``key=value,...`` (``job<n>`` when none is known); else None."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    if not HydraConfig.initialized() or HydraConfig.get().mode != RunMode.MULTIRUN:
        return None
    env = os.environ.get(SWEPT_KEYS_ENV)
    swept = set(env.split(",") if env is not None else swept_keys(sys.argv[1:]))
    parts = [o.lstrip("+~") for o in HydraConfig.get().overrides.task if o.lstrip("+~").split("=", 1)[0] in swept]
    return ",".join(sorted(parts)) or f"job{HydraConfig.get().job.num}"


def sweep_run_name(cfg: Any) -> None:
    """In a Hydra multirun, give each job its own run folder: ``<run_name>/<swept key=value,...>``.

    Without this, ``-m seed=1 +ablation=sparse,wgan`` would send both jobs to one folder (the second
    then refuses to overwrite the first's checkpoints).
    """
    from omegaconf import open_dict

    job = sweep_job_name()
    if job is None:
        return
    with open_dict(cfg):
        cfg.run_name = f"{cfg.run_name}/{job}"


def check_run_name(run_name: str, output_root: Optional[str] = None) -> None:
    """``run_name`` names a folder under ``output_root`` (``name``, or ``name/key=value,...`` in a sweep), never a path
    out of it: ``..`` parts, an absolute path, and (given ``output_root``) anything resolving outside it, symbolic
    links included, are refused in one line. An absolute name would also split one run over two folders: Hydra's
    ``${output_root}/${run_name}`` and the trainer's ``Path(output_root) / run_name`` then differ."""
    text = str(run_name)
    if not text.strip():
        raise ConfigError("run_name is empty; name the run folder (e.g. run_name=my_run)")
    if os.path.isabs(text) or text.startswith("~"):
        raise ConfigError(f"run_name={text} is a path; it names a folder under output_root (set output_root= instead)")
    if ".." in re.split(r"[/\\]", text):
        raise ConfigError(f"run_name={text} climbs out of output_root ('..'); it names a folder under output_root")
    if output_root is not None:
        root = Path(output_root).expanduser().resolve()
        folder = (root / text).resolve()
        if folder == root or not folder.is_relative_to(root):
            raise ConfigError(f"run_name={text} resolves to {folder}, not a folder under output_root {root}")


# --- a full disk or a folder that cannot be written ---------------------------------------------------------------
DISK_FULL, NOT_WRITABLE = "disk full", "read-only / not writable"
_FAULTS = {
    errno.ENOSPC: DISK_FULL,
    errno.EDQUOT: DISK_FULL,
    errno.EROFS: NOT_WRITABLE,
    errno.EACCES: NOT_WRITABLE,
    errno.EPERM: NOT_WRITABLE,
}
_FIXES = {DISK_FULL: "free space on it", NOT_WRITABLE: "make it writable"}
_LOW_SPACE = 1 << 20  # bytes free under which a write that failed without saying why is taken for a full disk


def storage_fault(exc: BaseException, folder: Optional[Path] = None) -> Optional[str]:
    """DISK_FULL or NOT_WRITABLE when ``exc`` (or an error it came from) is that failure of a write, else None.

    Libraries that write with their own code report the OS error in their message only (safetensors, tokenizers),
    or not at all (torch's archive writer): with ``folder``, such an error counts as a full disk when the folder's
    file system has almost no space left."""
    seen: Optional[BaseException] = exc
    while seen is not None:
        if isinstance(seen, OSError) and seen.errno in _FAULTS:
            return _FAULTS[seen.errno]
        text = str(seen).lower()
        for code, fault in _FAULTS.items():
            if os.strerror(code).lower() in text:
                return fault
        seen = seen.__cause__ or seen.__context__
    if folder is not None and isinstance(exc, (OSError, RuntimeError)) and free_bytes(folder) < _LOW_SPACE:
        return DISK_FULL
    return None


def _nearest_existing(folder: Path) -> Path:
    """``folder``, or its nearest parent that exists (where a folder about to be made would live)."""
    existing = Path(folder).expanduser().absolute()
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    return existing


def free_bytes(folder: Path) -> int:
    """Free space of the file system ``folder`` is (or would be) on."""
    return shutil.disk_usage(_nearest_existing(folder)).free


def fault_cause(exc: BaseException) -> str:
    """The short cause of a failed write, for a one-line message: the OS's words, else the error's first line."""
    return getattr(exc, "strerror", None) or (str(exc).strip() or type(exc).__name__).splitlines()[0][:120]


@contextlib.contextmanager
def writing_into(folder: Path, then: str) -> Iterator[None]:
    """Writes into ``folder`` that fail on a full disk or an unwritable folder end in one line:
    ``<folder>: disk full (<cause>); free space on it, <then>``. Any other error passes through."""
    try:
        yield
    except ConfigError:
        raise
    except Exception as exc:
        fault = storage_fault(exc, folder)
        if fault is None:
            raise
        cause = fault_cause(exc)
        if fault == DISK_FULL and not isinstance(exc, OSError) and "space" not in cause.lower():
            cause = "under 1 MiB free"  # torch's writer says nothing useful
        raise ConfigError(f"{folder}: {fault} ({cause}); {_FIXES[fault]}, {then}") from None


def check_writable(folder: Path, key: str) -> None:
    """Refuse, in one line and before anything is written, a folder that cannot take files (read-only, no
    permission, disk full): a probe file is written and removed in it, or in its nearest existing parent."""
    target = _nearest_existing(folder)
    try:
        with writing_into(target, f"or choose another {key}"):
            fd, probe = tempfile.mkstemp(dir=target, prefix=".write-probe-")
            try:
                os.write(fd, b"\0" * 4096)  # a full disk may still create an empty file
            finally:
                os.close(fd)
                os.unlink(probe)
    except OSError as exc:  # not a folder, a name too long, ...
        raise ConfigError(f"{key}: cannot write into {target} ({exc.strerror or exc}); choose another {key}") from None
