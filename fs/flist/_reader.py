"""Reading an flist of any supported generation (spec §3.5, §5, §6, §10.2).

    with open_flist("ubuntu.flist", default_workdir(data_dir)) as fl:
        for entry in fl.walk():
            print(entry.path, entry.kind, oct(entry.mode), entry.size)
        data = fl.read("etc/hostname", 0, 4096, fl.stores(data_dir=data_dir))
"""

from __future__ import annotations

import collections
import os
import pwd
import grp
import re
import threading
from pathlib import Path
from typing import Any
from collections.abc import Iterator, Sequence

from zos.fs.store import (CHUNK_SIZE, ChunkStore, backend_url, default_store, fetch_chunk, open_store)
from zos.fs.store import StoreError

from ._capnp import decode_aci, decode_dir
from ._db import EntriesDB, RocksDB, SqliteDB, parse_metadata
from ._errors import EntryNotFoundError, FlistFormatError, NotADirectoryEntryError
from ._keys import LEGACY_ROOT_KEY, ROOT_KEY, relpath
from ._locate import MAX_COPIES, MAX_COPY_BYTES, Location, locate
from ._model import (SPECIAL_BLOCK, SPECIAL_CHAR, SPECIAL_FIFO, SPECIAL_SOCKET, TAG_DIR, TAG_FILE, TAG_LINK,
                     Aci, Block, Entry, RawDir, RawInode)

DEFAULT_OWNER = 65534
_DEVICE = re.compile(rb"^(\d+),(\d+)$")
_SPECIAL_KIND = {SPECIAL_SOCKET: "socket", SPECIAL_BLOCK: "block", SPECIAL_CHAR: "char", SPECIAL_FIFO: "fifo"}
_DEFAULT_MODE = {"dir": 0o755, "file": 0o644, "symlink": 0o777}


def default_workdir(data_dir: str | os.PathLike[str]) -> Path:
    """`DATA/flists`: where archives opened by zos (CLI, mounts) share their database copies."""
    return Path(data_dir) / "flists"


def open_flist(path: str | os.PathLike[str], workdir: str | os.PathLike[str] | None = None, *,
               max_copies: int = MAX_COPIES, max_copy_bytes: int = MAX_COPY_BYTES, **options: Any) -> Flist:
    """Open a G2 archive (`.flist`), a bare `flistdb.sqlite3`, a native RocksDB directory or a
    legacy G0/G1 RocksDB flist (directory or archive).

    An archive's database is copied out first: into `workdir`, shared by every open of the same
    archive and bounded to the `max_copies` most recently opened (and `max_copy_bytes`); or,
    without `workdir`, into a private temporary directory that `close()` removes.
    Options: `resolve_names` (host passwd/group lookups for ACIs without ids, default True),
    `default_uid`, `default_gid`, `dir_cache` (decoded directories kept, default 1024)."""
    location = locate(path, workdir, max_copies, max_copy_bytes)
    try:
        db: EntriesDB = SqliteDB(location.path) if location.kind == "sqlite" else RocksDB(location.path)
    except BaseException:
        location.release()
        raise
    try:
        return Flist(db, Path(path), location=location, **options)
    except BaseException:
        db.close()
        location.release()
        raise


class Flist:
    """A read-only view of one flist. Thread-safe: caches are guarded, SQLite is per thread."""

    def __init__(self, db: EntriesDB, source: Path, resolve_names: bool = True,
                 default_uid: int = DEFAULT_OWNER, default_gid: int = DEFAULT_OWNER,
                 dir_cache: int = 1024, location: Location | None = None) -> None:
        self.db = db
        self.source = source
        self._location = location  # released on close (a copy of an archive's database)
        self.resolve_names = resolve_names
        self.default_uid = default_uid
        self.default_gid = default_gid
        self._lock = threading.Lock()
        self._dirs: collections.OrderedDict[str, RawDir] = collections.OrderedDict()
        self._dir_cache = dir_cache
        self._acis: dict[str, Aci | None] = {}
        self._dirkeys: dict[bytes, str] = {b"": ""}
        self._names: dict[tuple[str, str], int] = {}
        self._metadata: dict[str, Any] | None = None
        if isinstance(db, SqliteDB):
            self.format = "hub"
            self.root_key = ROOT_KEY
        elif db.get(ROOT_KEY) is not None:
            self.format = "native"
            self.root_key = ROOT_KEY
        else:
            self.format = "legacy"
            self.root_key = LEGACY_ROOT_KEY if db.get(LEGACY_ROOT_KEY) is not None else self._scan_root()
        if self.db.get(self.root_key) is None:
            raise FlistFormatError(f"{source}: no root directory (key {self.root_key})")
        self._dirkeys[b""] = self.root_key

    def _scan_root(self) -> str:
        for key, value in self.db.items():
            try:
                d = decode_dir(value)
            except FlistFormatError:
                continue
            if d.parent == key or not d.location:
                return key
        raise FlistFormatError(f"{self.source}: unknown flist format (no root directory found)")

    # -- raw access ---------------------------------------------------------------------------
    def raw_dir(self, key: str) -> RawDir:
        """The decoded Dir stored under `key` (LRU-cached)."""
        with self._lock:
            found = self._dirs.get(key)
            if found is not None:
                self._dirs.move_to_end(key)
                return found
        value = self.db.get(key)
        if value is None:
            raise FlistFormatError(f"{self.source}: dangling directory key {key}")
        decoded = decode_dir(value, key)
        with self._lock:
            self._dirs[key] = decoded
            while len(self._dirs) > self._dir_cache:
                self._dirs.popitem(last=False)
        return decoded

    def aci(self, key: str) -> Aci | None:
        """The ACI under `key`, or None when absent or undecodable (defaults apply)."""
        with self._lock:
            if key in self._acis:
                return self._acis[key]
        value = self.db.get(key) if key else None
        found = None
        if value is not None:
            try:
                found = decode_aci(value, key)
            except FlistFormatError:
                found = None
        with self._lock:
            self._acis[key] = found
        return found

    @property
    def metadata(self) -> dict[str, Any]:
        """The metadata table, values parsed from JSON (non-JSON text kept as a string)."""
        if self._metadata is None:
            self._metadata = parse_metadata(self.db.metadata_raw())
        return self._metadata

    # -- resolution ---------------------------------------------------------------------------
    def dir_key(self, path: str | bytes) -> str:
        """The stored key of the directory at `path`, following SubDir keys from the root."""
        rel = relpath(path)
        with self._lock:
            known = self._dirkeys.get(rel)
        if known:
            return known
        parent, _, name = rel.rpartition(b"/")
        d = self.raw_dir(self.dir_key(parent))
        position = d.index.get(name)
        if position is None:
            raise EntryNotFoundError(rel, str(self.source))
        inode = d.contents[position]
        if inode.tag != TAG_DIR:
            raise NotADirectoryEntryError(f"'/{rel.decode(errors='replace')}' in {self.source} is not a directory")
        with self._lock:
            self._dirkeys[rel] = inode.subdir
        return inode.subdir

    def _uid(self, aci: Aci, group: bool) -> int:
        number = aci.gid if group else aci.uid
        if number >= 0:
            return number
        name = aci.gname if group else aci.uname
        if name.isdigit():
            return int(name)
        if self.resolve_names and name:
            cache_key = ("g" if group else "u", name)
            if cache_key not in self._names:
                try:
                    self._names[cache_key] = (grp.getgrnam(name).gr_gid if group
                                              else pwd.getpwnam(name).pw_uid)
                except KeyError:
                    self._names[cache_key] = -1
            if self._names[cache_key] >= 0:
                return self._names[cache_key]
        return self.default_gid if group else self.default_uid

    def _make(self, rel: bytes, kind: str, aclkey: str, size: int, mtime: int, ctime: int, **extra: Any) -> Entry:
        aci = self.aci(aclkey)
        if aci is None:
            mode, uid, gid, uname, gname = _DEFAULT_MODE.get(kind, 0o600), self.default_uid, self.default_gid, "", ""
        else:
            mode, uname, gname = aci.mode, aci.uname, aci.gname
            uid, gid = self._uid(aci, False), self._uid(aci, True)
        return Entry(path=rel, kind=kind, mode=mode, uid=uid, gid=gid, uname=uname, gname=gname,
                     size=size, mtime=mtime, ctime=ctime, aclkey=aclkey, **extra)

    def _entry(self, parent: bytes, inode: RawInode) -> Entry:
        rel = parent + b"/" + inode.name if parent else inode.name
        if inode.tag == TAG_DIR:
            return self._make(rel, "dir", inode.aclkey, 4096, inode.mtime, inode.ctime, dirkey=inode.subdir)
        if inode.tag == TAG_FILE:
            chunk = inode.block_size * 4096 if inode.block_size > 0 else CHUNK_SIZE
            return self._make(rel, "file", inode.aclkey, inode.size, inode.mtime, inode.ctime,
                              blocks=inode.blocks, chunk_size=chunk)
        if inode.tag == TAG_LINK:
            return self._make(rel, "symlink", inode.aclkey, len(inode.target), inode.mtime, inode.ctime,
                              target=inode.target)
        device = _DEVICE.match(inode.special_data)
        kind = _SPECIAL_KIND.get(inode.special_type, "unknown")
        if kind == "socket" and device:  # upstream wrote every special as socket (spec §13 #1)
            kind = "char"
        rdev = os.makedev(int(device.group(1)), int(device.group(2))) if device and kind in ("char", "block") else 0
        return self._make(rel, kind, inode.aclkey, 0, inode.mtime, inode.ctime, rdev=rdev)

    def root(self) -> Entry:
        d = self.raw_dir(self.root_key)
        return self._make(b"", "dir", d.aclkey, 4096, d.mtime, d.ctime, dirkey=self.root_key)

    def lookup(self, path: str | bytes) -> Entry:
        """The entry at `path` (`"/"`, `""` or `b""` is the root); EntryNotFoundError if absent."""
        rel = relpath(path)
        if not rel:
            return self.root()
        parent, _, name = rel.rpartition(b"/")
        try:
            d = self.raw_dir(self.dir_key(parent))
        except NotADirectoryEntryError:
            raise EntryNotFoundError(rel, str(self.source)) from None
        position = d.index.get(name)
        if position is None:
            raise EntryNotFoundError(rel, str(self.source))
        return self._entry(parent, d.contents[position])

    stat = lookup

    def listdir(self, path: str | bytes = b"") -> list[Entry]:
        """Children in stored order (specials included; a duplicated name only once, the first)."""
        rel = relpath(path)
        d = self.raw_dir(self.dir_key(rel))
        return [self._entry(rel, d.contents[i]) for i in sorted(set(d.index.values()))]

    def readlink(self, path: str | bytes) -> bytes:
        entry = self.lookup(path)
        if entry.kind != "symlink":
            raise FlistFormatError(f"'/{entry.path.decode(errors='replace')}' is a {entry.kind}, not a symlink")
        return entry.target

    def walk(self, path: str | bytes = b"") -> Iterator[Entry]:
        """Every entry below `path`, depth first, parents before children (the start excluded)."""
        stack = [relpath(path)]
        while stack:
            current = stack.pop()
            children = self.listdir(current)
            subdirs = []
            for child in children:
                yield child
                if child.kind == "dir":
                    subdirs.append(child.path)
            stack.extend(reversed(subdirs))

    def blocks(self, path: str | bytes) -> tuple[Block, ...]:
        return self.lookup(path).blocks

    def chunk_ids(self) -> set[bytes]:
        """Every distinct chunk id referenced by a file."""
        return {block.id for entry in self.walk() if entry.kind == "file" for block in entry.blocks}

    # -- content ------------------------------------------------------------------------------
    def stores(self, extra: Sequence[ChunkStore | str] = (), use_backend: bool = True,
               data_dir: str | os.PathLike[str] | None = None) -> list[ChunkStore]:
        """Stores to read chunks from, in order (spec §9.3): `extra`, the local default store
        (`data_dir/chunks`, when `data_dir` is given), then the flist's `metadata.backend`."""
        result = [open_store(s) if isinstance(s, str) else s for s in extra]
        if data_dir is not None:
            result.append(default_store(data_dir))
        backend = self.metadata.get("backend")
        if use_backend and isinstance(backend, dict) and (backend.get("host") or backend.get("socket")):
            try:
                result.append(open_store(backend_url(backend)))
            except StoreError:
                pass
        return result

    def iter_content(self, entry: Entry, stores: Sequence[ChunkStore], verify_id: bool = True) -> Iterator[bytes]:
        """Plaintext chunks of a regular file, in order."""
        for block in entry.blocks:
            yield fetch_chunk(stores, block.id, block.key, verify_id)

    def read(self, path: str | bytes | Entry, offset: int, size: int, stores: Sequence[ChunkStore],
             verify_id: bool = True) -> bytes:
        """Bytes `[offset, offset+size)` of a regular file, fetching only the chunks it covers."""
        entry = path if isinstance(path, Entry) else self.lookup(path)
        if entry.kind != "file":
            raise FlistFormatError(f"'/{entry.path.decode(errors='replace')}' is a {entry.kind}, not a file")
        end = min(entry.size, offset + size)
        if offset >= end:
            return b""
        chunk = entry.chunk_size
        blocks = entry.blocks
        if len(blocks) != -(-entry.size // chunk):  # irregular (legacy) file: walk real lengths
            data = b"".join(self.iter_content(entry, stores, verify_id))
            return data[offset:end]
        parts = []
        for index in range(offset // chunk, (end - 1) // chunk + 1):
            block = blocks[index]
            plain = fetch_chunk(stores, block.id, block.key, verify_id)
            start = index * chunk
            expected = min(chunk, entry.size - start)
            if len(plain) != expected:
                raise FlistFormatError(f"chunk {block.id.hex()} of '/{entry.path.decode(errors='replace')}' "
                                       f"has {len(plain)} bytes, expected {expected}")
            parts.append(plain[max(0, offset - start):end - start])
        return b"".join(parts)

    def close(self) -> None:
        self.db.close()
        if self._location is not None:
            self._location.release()

    def __enter__(self) -> Flist:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Flist({str(self.source)!r}, format={self.format!r})"
