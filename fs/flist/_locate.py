"""Where an flist's database is: in place, or copied out of its archive, in a bounded place.

A bare `flistdb.sqlite3` or a RocksDB directory is read in place. An archive (`.flist`, a
tar.gz) is read from a copy of its database (`_archive.extract_database`):

- with a work directory (normally `DATA/flists/`), the copy is shared and named by content,
  `<workdir>/<sha256 of the archive>/`, so every open of the same archive, in any process,
  reuses it. After each new copy, the least recently opened copies beyond `max_copies` or
  `max_bytes` are removed;
- without one, each open gets a private temporary copy that `Location.release()` removes.

A shared copy in use is never removed: the opener holds a shared `flock` on `<copy>/.lock`
until release, and eviction takes that lock exclusively without waiting, skipping the copy
when it cannot. (SQLite connects lazily, once per reader thread, so a copy removed under an
open Flist would break its next reader.)
"""

from __future__ import annotations

import dataclasses
import fcntl
import os
import shutil
import tempfile
import time
import weakref
from pathlib import Path
from typing import BinaryIO

from .._digest import file_digest
from ._archive import DB_NAME, ROCKS_DIR, database_path, extract_database
from ._db import SQLITE_MAGIC
from ._errors import FlistError, FlistFormatError

MAX_COPIES = 64
MAX_COPY_BYTES = 4 << 30
LOCK_NAME = ".lock"
_STALE_NS = 3600 * 10**9  # a dot-entry this old is a crashed opener's staging or trash


@dataclasses.dataclass(eq=False)
class Location:
    """The database of an flist: a "sqlite" file or a "rocksdb" directory. `release()`, once the
    database is closed, lets its copy go: unlocks a shared copy, removes a private one. A
    Location dropped without release (an Flist never closed) does the same when collected, or
    at interpreter exit."""

    kind: str
    path: Path
    private_copy: Path | None = None   # removed on release
    shared_lock: BinaryIO | None = None  # closed (unlocked) on release

    def __post_init__(self) -> None:
        # The finalizer holds the copy and the lock, not the Location: it runs once, either way.
        self._finalizer = weakref.finalize(self, _let_go, self.private_copy, self.shared_lock)

    def release(self) -> None:
        self._finalizer()


def _let_go(private_copy: Path | None, shared_lock: BinaryIO | None) -> None:
    if shared_lock is not None:
        shared_lock.close()
    if private_copy is not None:
        shutil.rmtree(private_copy, ignore_errors=True)


def locate(path: str | os.PathLike[str], workdir: str | os.PathLike[str] | None = None,
           max_copies: int = MAX_COPIES, max_bytes: int = MAX_COPY_BYTES) -> Location:
    """Find (or copy out) the database of the flist at `path`."""
    path = Path(path)
    if path.is_dir():
        if (path / DB_NAME).is_file():
            return Location("sqlite", path / DB_NAME)
        if (path / "CURRENT").is_file():
            return Location("rocksdb", path)
        raise FlistFormatError(f"{path}: unknown flist format (a directory without {DB_NAME} or CURRENT)")
    try:
        with open(path, "rb") as handle:
            head = handle.read(len(SQLITE_MAGIC))
    except FileNotFoundError:
        raise FileNotFoundError(f"flist '{path}' does not exist") from None
    if head == SQLITE_MAGIC:
        return Location("sqlite", path)
    if workdir is None:
        return _private_copy(path)
    return _shared_copy(path, Path(workdir), max_copies, max_bytes)


def _private_copy(archive: Path) -> Location:
    root = Path(tempfile.mkdtemp(prefix="zos-flist-"))
    try:
        kind = extract_database(archive, root)
    except BaseException:
        shutil.rmtree(root, ignore_errors=True)
        raise
    return Location(kind, database_path(root, kind), private_copy=root)


def _shared_copy(archive: Path, workdir: Path, max_copies: int, max_bytes: int) -> Location:
    workdir.mkdir(parents=True, exist_ok=True)
    target = workdir / file_digest(archive)
    for _ in range(3):
        if _kind_of(target) is None:
            _copy_into(archive, target)
            _evict(workdir, max_copies, max_bytes, keep=target)
        lock = _hold(target)
        if lock is None:
            continue  # evicted by another process between the copy and the lock: copy again
        kind = _kind_of(target)
        if kind is not None:
            now = time.time_ns()  # exact: the kernel's own file times are coarse (a jiffy)
            os.utime(target, ns=(now, now))  # most recently used
            return Location(kind, database_path(target, kind), shared_lock=lock)
        lock.close()
    raise FlistError(f"{archive}: its copy in {workdir} was removed three times while being opened")


def _kind_of(copy: Path) -> str | None:
    if (copy / DB_NAME).is_file():
        return "sqlite"
    if (copy / ROCKS_DIR / "CURRENT").is_file():
        return "rocksdb"
    return None


def _copy_into(archive: Path, target: Path) -> None:
    staging = Path(tempfile.mkdtemp(prefix=".open-", dir=target.parent))
    try:
        extract_database(archive, staging)
        (staging / LOCK_NAME).touch()
        try:
            os.rename(staging, target)
        except OSError:  # another process finished first: use its copy
            shutil.rmtree(staging, ignore_errors=True)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _lock_file(copy: Path) -> BinaryIO:
    fd = os.open(copy / LOCK_NAME, os.O_RDONLY | os.O_CREAT | os.O_CLOEXEC, 0o600)
    return os.fdopen(fd, "rb")


def _hold(copy: Path) -> BinaryIO | None:
    """A shared lock on the copy at `copy`, or None if that copy is gone (evicted)."""
    try:
        handle = _lock_file(copy)
    except FileNotFoundError:
        return None
    fcntl.flock(handle, fcntl.LOCK_SH)  # waits for an eviction in progress to finish
    try:
        # Still the copy we locked, not one evicted (renamed away) and then made again?
        current = os.stat(copy / LOCK_NAME)
        held = os.fstat(handle.fileno())
        if (current.st_dev, current.st_ino) == (held.st_dev, held.st_ino):
            return handle
    except FileNotFoundError:
        pass
    handle.close()
    return None


def _evict(workdir: str | os.PathLike[str], max_copies: int = MAX_COPIES, max_bytes: int = MAX_COPY_BYTES,
          keep: Path | None = None) -> None:
    """Remove the least recently opened copies beyond `max_copies` or `max_bytes` (never `keep`,
    never one in use) and stale leftovers of crashed openers."""
    workdir = Path(workdir)
    stale_before = time.time_ns() - _STALE_NS
    copies = []
    for entry in os.scandir(workdir):
        try:  # other openers add and remove entries meanwhile
            if not entry.is_dir(follow_symlinks=False):
                continue
            mtime = entry.stat(follow_symlinks=False).st_mtime_ns
        except FileNotFoundError:
            continue
        if not entry.name.startswith("."):
            copies.append((Path(entry.path) == keep, mtime, Path(entry.path)))
        elif mtime < stale_before:
            shutil.rmtree(entry.path, ignore_errors=True)
    copies.sort(reverse=True)  # `keep`, then the most recently opened: these are kept
    count = total = 0
    for _, _, copy in copies:
        size = _size(copy)
        count += 1
        total += size
        if copy == keep or (count <= max_copies and total <= max_bytes):
            continue
        if _remove_unused(copy):
            count -= 1
            total -= size


def _size(folder: Path) -> int:
    total = 0
    for base, _, names in os.walk(folder):
        for name in names:
            try:
                total += os.lstat(os.path.join(base, name)).st_size
            except FileNotFoundError:
                pass
    return total


def _remove_unused(copy: Path) -> bool:
    try:
        handle = _lock_file(copy)
    except FileNotFoundError:
        return True  # someone else removed it
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False  # an open Flist reads it
        # Renamed out of the way first, so that an opener sees the whole copy or none of it.
        trash = Path(tempfile.mkdtemp(prefix=".trash-", dir=copy.parent))
        try:
            os.rename(copy, trash / copy.name)
        except OSError:
            shutil.rmtree(trash, ignore_errors=True)
            return False
        shutil.rmtree(trash, ignore_errors=True)
    return True
