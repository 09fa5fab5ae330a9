"""The interchange container (spec §3.1, §3.5): a tar.gz holding `flistdb.sqlite3`.

Members are never extracted by their own paths: the one wanted member (by basename) is copied
into a directory the caller chose, so a hostile archive cannot write anywhere else. Where that
directory is, and how long it lives, is `_locate.py`'s business.
"""

from __future__ import annotations

import os
import shutil
import tarfile
import tempfile
import time
from pathlib import Path

from ._errors import FlistFormatError

DB_NAME = "flistdb.sqlite3"
ROCKS_DIR = "rocks"
_ROCKS_NAMES = ("CURRENT", "IDENTITY", "LOG")
_ROCKS_PREFIXES = ("MANIFEST-", "OPTIONS-")
_ROCKS_SUFFIXES = (".sst", ".log", ".ldb")


def _is_rocks_member(name: str) -> bool:
    return name in _ROCKS_NAMES or name.startswith(_ROCKS_PREFIXES) or name.endswith(_ROCKS_SUFFIXES)


def database_path(folder: Path, kind: str) -> Path:
    """Where `extract_database(..., folder)` put a database of `kind`."""
    return folder / DB_NAME if kind == "sqlite" else folder / ROCKS_DIR


def extract_database(path: Path, staging: Path) -> str:
    """Copy the archive's database into `staging`: `flistdb.sqlite3` ("sqlite") or the RocksDB
    files of a legacy flist into `staging/rocks/` ("rocksdb")."""
    rocks = staging / ROCKS_DIR
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
