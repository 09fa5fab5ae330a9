"""Writing a finished set of rows as an flist: nothing appears at `out` unless all succeeded."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from ._archive import DB_NAME, write_archive
from ._db import EntriesWriter, RocksWriter, SqliteWriter
from ._errors import FlistError

FORMATS = ("hub", "native")


def write_flist(out: str | os.PathLike[str], format: str, fill: Callable[[EntriesWriter], None]) -> Path:
    """`fill(sink)` puts every row; `hub` = tar.gz with flistdb.sqlite3 (one transaction, then
    VACUUM), `native` = RocksDB directory. Built next to `out`, then renamed into place."""
    if format not in FORMATS:
        raise FlistError(f"format {format!r} is not one of {', '.join(FORMATS)}")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        sink: EntriesWriter = SqliteWriter(work / DB_NAME) if format == "hub" else RocksWriter(work / "rocks")
        try:
            fill(sink)
        except BaseException:
            sink.abort()
            raise
        sink.finish()
        if format == "hub":
            write_archive(work / DB_NAME, out)
        else:
            if out.exists():
                shutil.rmtree(out)
            os.rename(work / "rocks", out)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return out
