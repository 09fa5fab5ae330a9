"""The interchange container (spec §3.1, §3.5): a tar.gz holding `flistdb.sqlite3`.

Members are never extracted by their own paths: the one wanted member (by basename) is copied
into a private directory named by the archive's sha256, so a hostile archive cannot write
anywhere else and a second open of the same archive reuses the copy.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tarfile
import tempfile
import time
from pathlib import Path

from ._db import SQLITE_MAGIC
from ._errors import FlistFormatError

DB_NAME = "flistdb.sqlite3"
_ROCKS_NAMES = ("CURRENT", "IDENTITY", "LOG")
_ROCKS_PREFIXES = ("MANIFEST-", "OPTIONS-")
_ROCKS_SUFFIXES = (".sst", ".log", ".ldb")


def _is_rocks_member(name: str) -> bool:
    return name in _ROCKS_NAMES or name.startswith(_ROCKS_PREFIXES) or name.endswith(_ROCKS_SUFFIXES)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def locate(path: str | os.PathLike[str], workdir: str | os.PathLike[str]) -> tuple[str, Path]:
    """Where the database of the flist at `path` is: ("sqlite", file) or ("rocksdb", dir)."""
    path = Path(path)
    if path.is_dir():
        if (path / DB_NAME).is_file():
            return "sqlite", path / DB_NAME
        if (path / "CURRENT").is_file():
            return "rocksdb", path
        raise FlistFormatError(f"{path}: unknown flist format (a directory without {DB_NAME} or CURRENT)")
    try:
        with open(path, "rb") as handle:
            head = handle.read(len(SQLITE_MAGIC))
    except FileNotFoundError:
        raise FileNotFoundError(f"flist '{path}' does not exist") from None
    if head == SQLITE_MAGIC:
        return "sqlite", path
    return _from_archive(path, Path(workdir))


def _from_archive(path: Path, workdir: Path) -> tuple[str, Path]:
    target = workdir / _sha256(path)
    if (target / DB_NAME).is_file():
        return "sqlite", target / DB_NAME
    if (target / "rocks" / "CURRENT").is_file():
        return "rocksdb", target / "rocks"
    workdir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".open-", dir=workdir))
    try:
        kind = _copy_members(path, staging)
        try:
            os.rename(staging, target)
        except OSError:  # another process finished first: use its copy
            shutil.rmtree(staging, ignore_errors=True)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return (kind, target / DB_NAME) if kind == "sqlite" else (kind, target / "rocks")


def _copy_members(path: Path, staging: Path) -> str:
    rocks = staging / "rocks"
    found_db = False
    found_rocks = False
    try:
        with tarfile.open(path, "r:*") as tar:
            for member in tar:
                base = member.name.rstrip("/").rpartition("/")[2]
                if not member.isfile() or base in ("", ".", ".."):
                    continue
                if base == DB_NAME and not found_db:
                    _copy(tar, member, staging / DB_NAME)
                    found_db = True
                elif _is_rocks_member(base) and not found_db:
                    rocks.mkdir(exist_ok=True)
                    _copy(tar, member, rocks / base)
                    found_rocks = found_rocks or base == "CURRENT"
    except (tarfile.TarError, EOFError, OSError, ValueError) as exc:
        raise FlistFormatError(f"{path}: unknown flist format or corrupt archive ({exc})") from None
    if found_db:
        shutil.rmtree(rocks, ignore_errors=True)
        return "sqlite"
    if found_rocks:
        return "rocksdb"
    raise FlistFormatError(f"{path}: unknown flist format (no {DB_NAME} and no RocksDB files in the archive)")


def _copy(tar: tarfile.TarFile, member: tarfile.TarInfo, dest: Path) -> None:
    source = tar.extractfile(member)
    if source is None:
        raise FlistFormatError(f"archive member {member.name!r} has no data")
    with open(dest, "wb") as out:
        shutil.copyfileobj(source, out, 1 << 20)


def write_archive(db_path: str | os.PathLike[str], out: str | os.PathLike[str]) -> Path:
    """GNU tar, gzip, exactly `./` and `./flistdb.sqlite3`; written to a temp file and renamed."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
    try:
        with os.fdopen(fd, "wb") as raw, tarfile.open(fileobj=raw, mode="w:gz",
                                                        format=tarfile.GNU_FORMAT) as tar:
            now = int(time.time())
            top = tarfile.TarInfo("./")
            top.type = tarfile.DIRTYPE
            top.mode = 0o755
            top.mtime = now
            tar.addfile(top)
            info = tarfile.TarInfo("./" + DB_NAME)
            info.size = os.path.getsize(db_path)
            info.mode = 0o644
            info.mtime = now
            with open(db_path, "rb") as handle:
                tar.addfile(info, handle)
        os.replace(temp, out)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    return out


def archive_bytes_md5(path: str | os.PathLike[str]) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


