"""The two metadata databases of an flist: SQLite (`flistdb.sqlite3`, spec §3.2) and the native
RocksDB directory (§3.3). Same keys and values in both; a row-for-row copy converts."""

from __future__ import annotations

import abc
import json
import os
import shutil
import sqlite3
import threading
from pathlib import Path
from typing import Any
from collections.abc import Iterator
from urllib.parse import quote

from rocksdict import AccessType, Options, Rdict

from ._errors import FlistFormatError

SQLITE_MAGIC = b"SQLite format 3\0"
_DDL = ("CREATE TABLE IF NOT EXISTS entries (key VARCHAR(64) PRIMARY KEY, value BLOB);",
        "CREATE TABLE IF NOT EXISTS metadata (key VARCHAR(64) PRIMARY KEY, value TEXT);")


class EntriesDB(abc.ABC):
    """Read side: point lookups by hex key, a full scan, and the metadata table (JSON text)."""

    path: Path

    @abc.abstractmethod
    def get(self, key: str) -> bytes | None: ...

    @abc.abstractmethod
    def items(self) -> Iterator[tuple[str, bytes]]: ...

    @abc.abstractmethod
    def metadata_raw(self) -> dict[str, str]: ...

    def close(self) -> None:  # noqa: B027 - optional hook, nothing to release by default
        pass


class EntriesWriter(abc.ABC):
    @abc.abstractmethod
    def put(self, key: str, value: bytes) -> None: ...

    @abc.abstractmethod
    def put_metadata(self, key: str, text: str) -> None: ...

    @abc.abstractmethod
    def finish(self) -> None: ...

    def abort(self) -> None:  # noqa: B027 - optional hook
        pass


class SqliteDB(EntriesDB):
    """Read-only; one connection per thread (FUSE and the hub read from worker threads)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        conn = self._conn()
        try:
            tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        except sqlite3.DatabaseError as exc:
            raise FlistFormatError(f"{self.path} is not a readable SQLite flist: {exc}") from None
        if "entries" not in tables:
            raise FlistFormatError(f"{self.path} has no 'entries' table: not an flist")
        self.has_metadata = "metadata" in tables

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            uri = f"file:{quote(str(self.path.resolve()))}?mode=ro&immutable=1"
            try:
                conn = sqlite3.connect(uri, uri=True, check_same_thread=False)
            except sqlite3.Error as exc:
                raise FlistFormatError(f"cannot open {self.path} as SQLite: {exc}") from None
            self._local.conn = conn
            with self._lock:
                self._connections.append(conn)
        return conn

    def get(self, key: str) -> bytes | None:
        conn = self._conn()
        row = conn.execute("SELECT value FROM entries WHERE key = ?", (key,)).fetchone()
        if row is None:  # a writer that bound keys as BLOB
            row = conn.execute("SELECT value FROM entries WHERE key = ?", (key.encode(),)).fetchone()
        return None if row is None else bytes(row[0])

    def items(self) -> Iterator[tuple[str, bytes]]:
        for key, value in self._conn().execute("SELECT key, value FROM entries"):
            yield (key.decode() if isinstance(key, bytes) else key), bytes(value)

    def metadata_raw(self) -> dict[str, str]:
        if not self.has_metadata:
            return {}
        rows = self._conn().execute("SELECT key, value FROM metadata").fetchall()
        return {k: (v.decode() if isinstance(v, bytes) else v) for k, v in rows}

    def close(self) -> None:
        with self._lock:
            for conn in self._connections:
                conn.close()
            self._connections.clear()
        self._local = threading.local()


class SqliteWriter(EntriesWriter):
    """A new `flistdb.sqlite3`: one transaction for the whole build, then VACUUM (spec §3.2)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.conn = sqlite3.connect(str(self.path), isolation_level=None)
        for ddl in _DDL:
            self.conn.execute(ddl)
        self.conn.execute("BEGIN")

    def put(self, key: str, value: bytes) -> None:
        self.conn.execute("INSERT OR REPLACE INTO entries (key, value) VALUES (?, ?)", (str(key), value))

    def put_metadata(self, key: str, text: str) -> None:
        self.conn.execute("INSERT OR REPLACE INTO metadata (key, value) VALUES (?, ?)", (key, text))

    def finish(self) -> None:
        self.conn.execute("COMMIT")
        self.conn.execute("VACUUM")
        self.conn.close()

    def abort(self) -> None:
        self.conn.close()
        self.path.unlink(missing_ok=True)


def _options() -> Options:
    # raw mode: plain bytes keys and values; the default mode pickles and tags values.
    return Options(raw_mode=True)


class RocksDB(EntriesDB):
    """A native (or legacy) RocksDB flist, opened read-only in raw mode."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        try:
            families = Rdict.list_cf(str(self.path))
            self.db = Rdict(str(self.path), options=_options(), access_type=AccessType.read_only())
        except Exception as exc:  # rocksdict raises plain Exception
            raise FlistFormatError(f"cannot open {self.path} as RocksDB: {exc}") from None
        self.meta = self.db.get_column_family("metadata") if "metadata" in families else None

    def get(self, key: str) -> bytes | None:
        return self.db.get(key.encode())

    def items(self) -> Iterator[tuple[str, bytes]]:
        for key, value in self.db.items():
            yield key.decode("ascii", "surrogateescape"), value

    def metadata_raw(self) -> dict[str, str]:
        if self.meta is None:
            return {}
        return {k.decode(): v.decode() for k, v in self.meta.items()}

    def close(self) -> None:
        if self.meta is not None:
            self.meta.close()
        self.db.close()


class RocksWriter(EntriesWriter):
    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        options = _options()
        options.create_if_missing(True)
        self.db = Rdict(str(self.path), options=options)
        self.meta = self.db.create_column_family("metadata", _options())

    def put(self, key: str, value: bytes) -> None:
        self.db[key.encode()] = value

    def put_metadata(self, key: str, text: str) -> None:
        self.meta[key.encode()] = text.encode()

    def finish(self) -> None:
        self.meta.close()
        self.db.close()

    def abort(self) -> None:
        self.finish()
        shutil.rmtree(self.path, ignore_errors=True)


def parse_metadata(raw: dict[str, str]) -> dict[str, Any]:
    """JSON text per key -> values; text that is not JSON stays a string (preserved, not lost)."""
    out: dict[str, Any] = {}
    for key, text in raw.items():
        try:
            out[key] = json.loads(text)
        except ValueError:
            out[key] = text
    return out
