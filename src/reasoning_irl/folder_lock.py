"""One writer per folder: a training run folder, and an evaluation or scoring output folder, belong to the one process
that claimed it, for as long as that process runs.

The claim is ``<folder>/.lock``, made by an exclusive create (``O_CREAT | O_EXCL``) and holding the claimant's pid,
host and start time. An exclusive create rather than ``flock``: run folders live on shared cluster file systems
(NFS, Lustre), where ``flock`` is emulated or switched off but an exclusive create is atomic; and the file itself says
who holds the folder, which a refused second writer prints. The claim goes when its run ends (returns or raises)
and at interpreter exit. A lock left by a killed run (its pid gone on this host) is stale: the next claimant takes
it over with one warning. One from another host cannot be checked from here: it is refused, naming the file to
delete once that run is known to have ended.
"""

from __future__ import annotations

import atexit
import functools
import json
import logging
import os
import socket
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, Optional, TypeVar

from reasoning_irl.config import ConfigError

log = logging.getLogger(__name__)

LOCK_FILE = ".lock"
F = TypeVar("F", bound=Callable[..., Any])


class FolderClaim:
    """This process's claim on one folder; :meth:`release` ends it (also as a context manager)."""

    def __init__(self, folder: Path, record: str, created: bool):
        self.folder, self.record, self.created = folder, record, created
        self.pid = os.getpid()  # a forked child inherits the claim but must never release it

    @property
    def lock(self) -> Path:
        return self.folder / LOCK_FILE

    def release(self) -> None:
        """Remove the lock (only while it is still ours) and, if claiming created the folder, the folder if empty."""
        if self.pid != os.getpid() or _HELD.get(_key(self.folder)) is not self:
            return
        del _HELD[_key(self.folder)]
        if _read(self.lock) == self.record:
            self.lock.unlink(missing_ok=True)
        if self.created:
            try:
                self.folder.rmdir()  # only an empty one: a refused run leaves no new folder behind
            except OSError:
                pass

    def __enter__(self) -> FolderClaim:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.release()


_HELD: dict[Path, FolderClaim] = {}
"""The claims this process holds, by resolved folder."""


def _key(folder: Path) -> Path:
    return Path(folder).expanduser().resolve()


def _read(lock: Path) -> Optional[str]:
    """The lock's text; None when there is none, "" when it cannot be read."""
    try:
        return lock.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError):
        return ""


def _holder(text: Optional[str]) -> Optional[dict[str, Any]]:
    try:
        holder = json.loads(text or "")
    except json.JSONDecodeError:
        return None
    return holder if isinstance(holder, dict) and isinstance(holder.get("pid"), int) else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: alive
        return True
    return True


def _is_stale(holder: dict[str, Any]) -> bool:
    """Held by a process of this host that no longer runs. Our own pid without our claim is a leftover too: a
    restarted container reuses its hostname and its small pids."""
    if holder.get("host") != socket.gethostname():
        return False
    return holder["pid"] == os.getpid() or not _alive(holder["pid"])


def _describe(holder: Optional[dict[str, Any]], lock: Path) -> str:
    if holder is None:
        return f"another process (its lock {lock} is unreadable; delete it if no run writes there)"
    where = f"pid {holder['pid']} on {holder.get('host')} since {holder.get('since')}"
    if holder.get("host") != socket.gethostname():
        return f"{where} (another host: delete {lock} once that run has ended)"
    return where


def check_unclaimed(folder: Path, hint: str) -> None:
    """Refuse, in one line naming the holder, a folder another live process has claimed; writes nothing (for the
    config checks that run before anything is created)."""
    if _key(folder) in _HELD:
        return
    lock = Path(folder) / LOCK_FILE
    text = _read(lock)
    if text is None:
        return
    holder = _holder(text)
    if holder is None or not _is_stale(holder):
        raise ConfigError(f"{folder} is in use by {_describe(holder, lock)}; {hint}")


def claim_folder(folder: Path, hint: str) -> FolderClaim:
    """Claim ``folder`` (created if missing) for this process, or refuse in one line naming the holder and ending in
    ``hint`` (what to do instead). A folder this process already holds gives its existing claim."""
    folder = Path(folder).expanduser()
    if _key(folder) in _HELD:
        return _HELD[_key(folder)]
    created = not folder.exists()
    lock = folder / LOCK_FILE
    since = datetime.now().astimezone().isoformat(timespec="seconds")
    record = json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "since": since}) + "\n"
    for _ in range(3):
        try:
            folder.mkdir(parents=True, exist_ok=True)
            if _create(lock, record):
                claim = FolderClaim(folder, record, created)
                _HELD[_key(folder)] = claim
                return claim
        except OSError as exc:  # not a folder, read-only, disk full: one line, not a traceback
            raise ConfigError(f"{folder}: cannot claim it ({exc.strerror or exc}); {hint}") from None
        _take_over_if_stale(lock, folder, hint)
    raise ConfigError(f"{folder}: could not claim it ({lock} keeps coming back); {hint}")


def _create(lock: Path, record: str) -> bool:
    """Create ``lock`` holding ``record``, only if there is none (False then)."""
    try:
        fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        return False
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(record)
    except BaseException:
        lock.unlink(missing_ok=True)  # an empty lock would read as held by an unknown process
        raise
    return True


def _take_over_if_stale(lock: Path, folder: Path, hint: str) -> None:
    text = _read(lock)
    holder = _holder(text)
    if text is None:
        return  # released meanwhile: claim again
    if holder is None or not _is_stale(holder):
        raise ConfigError(f"{folder} is in use by {_describe(holder, lock)}; {hint}")
    # Removed only while it still holds what was judged stale: two claimants taking over the same stale lock at
    # once then mostly see each other's fresh lock instead of deleting it (a window of microseconds remains).
    if _read(lock) == text:
        lock.unlink(missing_ok=True)
        log.warning(
            "%s: took over the lock of pid %s (since %s), which no longer runs",
            folder,
            holder["pid"],
            holder.get("since"),
        )


def release_all() -> None:
    """Release every claim of this process (at exit, and when an entry script's job ends)."""
    for claim in list(_HELD.values()):
        claim.release()


def releases_claims(fn: F) -> F:
    """Release, when ``fn`` returns or raises, every claim taken during it: a run claims its folder once its config
    is checked, and lets go of it with the run."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        before = set(_HELD)
        try:
            return fn(*args, **kwargs)
        finally:
            for key in [k for k in _HELD if k not in before]:
                _HELD[key].release()

    return wrapper  # type: ignore[return-value]


atexit.register(release_all)
