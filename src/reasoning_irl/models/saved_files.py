"""Whether saved weights and checkpoint files can be read, checked before anything loads them.

A file cut short (a full disk, a killed copy) otherwise fails deep inside torch, safetensors or transformers, in a
long traceback that does not name it. Here each file is opened the cheap way its format allows (a safetensors
header, a torch archive's index, a JSON document: nothing as large as the weights is read) and the first damaged
one is named in one line. Weights are only read from safetensors: a pickle (``.bin``, ``.pt``) found where
safetensors belong is refused unread, since unpickling can run code.
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Optional

from reasoning_irl.config import ConfigError

TORCH_SUFFIXES = (".pt", ".pth", ".bin")  # torch.save writes a zip archive whatever the suffix
PICKLE_SUFFIXES = (*TORCH_SUFFIXES, ".pkl", ".ckpt")


def damage(path: Path) -> Optional[str]:
    """Why ``path`` cannot be read as the format its suffix names, or None (readable, or a kind not checked)."""
    try:
        if path.suffix == ".safetensors":
            from safetensors import safe_open

            with safe_open(str(path), framework="pt") as handle:
                handle.keys()
        elif path.suffix == ".json":
            json.loads(path.read_text(encoding="utf-8"))
        elif path.suffix in TORCH_SUFFIXES:
            with zipfile.ZipFile(path) as archive:  # its index is at the end: a cut-short file has none
                archive.infolist()
        return None
    except Exception as exc:  # OSError, ValueError, BadZipFile, and safetensors' own (Rust) error type
        return f"not a complete {_format(path)} file: {_first_line(exc)}"


def check_intact(folder: Path, advice: str) -> None:
    """Refuse the first damaged file under ``folder`` in one line: ``<file>: damaged (<why>); <advice>``."""
    for path in sorted(p for p in Path(folder).rglob("*") if p.is_file()):
        reason = damage(path)
        if reason is not None:
            raise ConfigError(f"{path}: damaged ({reason}); {advice}")


def check_weights_present(folder: Path, layouts: Sequence[Sequence[str]], advice: str) -> None:
    """Refuse a folder that holds none of ``layouts`` (each a list of files that together are its weights), naming
    a pickle found in their place (never loaded) or the missing files."""
    folder = Path(folder)
    if any(all((folder / name).is_file() for name in layout) for layout in layouts):
        return
    pickles = sorted(p for p in folder.rglob("*") if p.suffix in PICKLE_SUFFIXES and p.is_file())
    missing = " and ".join(name for name in layouts[0] if not (folder / name).is_file())  # of the current layout
    if pickles:
        raise ConfigError(
            f"{pickles[0]}: a pickle in place of {missing}; refused unread (unpickling can run code, so only "
            f"safetensors are loaded); {advice}"
        )
    raise ConfigError(f"{folder}: {missing} is missing; {advice}")


def _format(path: Path) -> str:
    return {".safetensors": "safetensors", ".json": "JSON"}.get(path.suffix, "torch")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:200] if text else type(exc).__name__
