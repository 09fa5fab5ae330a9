"""Building a new flist (spec §6, §8.1): entries are collected in memory, file contents are
chunked into a chunk store as they arrive, and `write()` emits the Dir/ACI rows bottom-up into
either the hub archive (§3.1) or a native RocksDB directory (§3.3)."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any, BinaryIO
from collections.abc import Callable

from zos.fs.store import CHUNK_SIZE, ChunkStore, ChunkUploader

from ._capnp import encode_aci, encode_dir
from ._db import EntriesWriter
from ._errors import FlistError, UnsafeEntryError
from ._keys import MAX_PATH, aclkey, dirkey
from ._output import FORMATS, write_flist
from ._model import (SPECIAL_BLOCK, SPECIAL_CHAR, SPECIAL_FIFO, SPECIAL_SOCKET, TAG_DIR, TAG_FILE, TAG_LINK,
                     TAG_SPECIAL, Aci, Block, RawDir, RawInode)

BLOCK_SIZE_FIELD = CHUNK_SIZE // 4096  # 128
U32_MAX = 2**32 - 1
_SPECIAL_TYPES = {"char": SPECIAL_CHAR, "block": SPECIAL_BLOCK, "fifo": SPECIAL_FIFO, "socket": SPECIAL_SOCKET}


def clean_path(path: str | bytes) -> bytes:
    """An input path -> relpath, refusing what cannot be safely represented (spec §11.6 step 3)."""
    raw = os.fsencode(path)
    if b"\0" in raw:
        raise UnsafeEntryError(f"path {raw!r} contains NUL")
    if len(raw) > MAX_PATH:
        raise UnsafeEntryError(f"path of {len(raw)} bytes is longer than {MAX_PATH}")
    parts = [p for p in raw.split(b"/") if p and p != b"."]
    if b".." in parts:
        raise UnsafeEntryError(f"path {raw.decode(errors='replace')!r} has a '..' component")
    return b"/".join(parts)


def clamp_time(value: float | int | None) -> int:
    if value is None:
        return 0
    return max(0, min(U32_MAX, int(value)))


@dataclasses.dataclass(slots=True)
class _Node:
    tag: int
    mode: int = 0o755
    uid: int = 0
    gid: int = 0
    uname: str = "root"
    gname: str = "root"
    mtime: int = 0
    ctime: int = 0
    size: int = 0
    blocks: tuple[Block, ...] = ()
    target: bytes = b""
    special_type: int = 0
    special_data: bytes = b""
    children: dict[bytes, _Node] | None = None


@dataclasses.dataclass
class BuildStats:
    """Counts of a build; the hub returns them as upload stats."""

    regular: int = 0
    symlink: int = 0
    directory: int = 0
    special: int = 0
    hardlink: int = 0
    failure: int = 0
    size: int = 0
    chunks: int = 0
    chunks_new: int = 0

    def as_dict(self) -> dict[str, int]:
        return dataclasses.asdict(self)


class FlistBuilder:
    """Collects entries and writes an flist.

        builder = FlistBuilder(store)
        builder.add_dir("etc", mode=0o755)
        builder.add_file("etc/hostname", b"box\\n", mode=0o644)
        builder.write("out.flist")               # hub format; or format="native"

    Attributes (all optional): mode (incl. suid/sgid/sticky), uid, gid, uname, gname (decimal
    id when not given), mtime, ctime (defaults to mtime). A later entry at the same path
    replaces an earlier one; a directory replacing a directory keeps its children.
    """

    def __init__(self, store: ChunkStore | None = None, progress: Callable[[BuildStats], None] | None = None) -> None:
        self.store = store
        self.uploader = ChunkUploader(store) if store is not None else None
        self.root = _Node(TAG_DIR, children={})
        self.metadata: dict[str, str] = {}
        self.stats = BuildStats()
        self.progress = progress

    # -- tree -------------------------------------------------------------------------------
    def _dir_node(self, rel: bytes) -> _Node:
        node = self.root
        if not rel:
            return node
        for part in rel.split(b"/"):
            assert node.children is not None
            child = node.children.get(part)
            if child is None or child.tag != TAG_DIR:
                child = _Node(TAG_DIR, children={})  # synthesised parent: root:root 0o755 mtime 0
                node.children[part] = child
            node = child
        return node

    def _put(self, path: str | bytes, node: _Node) -> bytes:
        rel = clean_path(path)
        if not rel:
            if node.tag != TAG_DIR:
                raise UnsafeEntryError("the root of an flist must be a directory")
            node.children = self.root.children
            self.root = node
            return rel
        parent, _, name = rel.rpartition(b"/")
        siblings = self._dir_node(parent).children
        assert siblings is not None
        old = siblings.get(name)
        if node.tag == TAG_DIR and old is not None and old.tag == TAG_DIR:
            node.children = old.children
        siblings[name] = node
        return rel

    @staticmethod
    def _attrs(mode: int, uid: int, gid: int, uname: str | None, gname: str | None,
               mtime: float | None, ctime: float | None) -> dict[str, Any]:
        return dict(mode=mode & 0o7777, uid=uid, gid=gid, uname=uname or str(uid), gname=gname or str(gid),
                    mtime=clamp_time(mtime), ctime=clamp_time(mtime if ctime is None else ctime))

    def add_dir(self, path: str | bytes, mode: int = 0o755, uid: int = 0, gid: int = 0,
                uname: str | None = None, gname: str | None = None, mtime: float | None = 0,
                ctime: float | None = None) -> None:
        node = _Node(TAG_DIR, children={}, **self._attrs(mode, uid, gid, uname, gname, mtime, ctime))
        self._put(path, node)
        self.stats.directory += 1

    def add_file(self, path: str | bytes, content: bytes | BinaryIO, mode: int = 0o644, uid: int = 0,
                 gid: int = 0, uname: str | None = None, gname: str | None = None,
                 mtime: float | None = 0, ctime: float | None = None) -> tuple[Block, ...]:
        """Chunk `content` (bytes or a binary stream read to its end) into the store."""
        clean_path(path)  # refuse before storing any chunk
        if self.uploader is None:
            raise FlistError("this builder has no chunk store: add_file needs one")
        blocks = []
        size = 0
        if isinstance(content, (bytes, bytearray, memoryview)):
            data = bytes(content)
            for start in range(0, len(data), CHUNK_SIZE):
                blocks.append(Block(*self.uploader.add(data[start:start + CHUNK_SIZE])))
            size = len(data)
        else:
            while True:
                piece = _read_full(content, CHUNK_SIZE)
                if not piece:
                    break
                blocks.append(Block(*self.uploader.add(piece)))
                size += len(piece)
                if len(piece) < CHUNK_SIZE:
                    break
        self.add_file_blocks(path, tuple(blocks), size, mode, uid, gid, uname, gname, mtime, ctime)
        self.stats.regular += 1
        self.stats.size += size
        if self.progress:
            self.progress(self.stats)
        return tuple(blocks)

    def add_file_blocks(self, path: str | bytes, blocks: tuple[Block, ...], size: int, mode: int = 0o644,
                        uid: int = 0, gid: int = 0, uname: str | None = None, gname: str | None = None,
                        mtime: float | None = 0, ctime: float | None = None) -> None:
        """A file whose chunks are already stored (a hardlink, a copy from another flist)."""
        node = _Node(TAG_FILE, size=size, blocks=tuple(blocks),
                     **self._attrs(mode, uid, gid, uname, gname, mtime, ctime))
        self._put(path, node)

    def add_hardlink(self, path: str | bytes, target: str | bytes, **attrs: Any) -> None:
        """`path` becomes an independent file sharing the blocks of the earlier file `target`."""
        node = self._find(clean_path(target))
        if node is None or node.tag != TAG_FILE:
            raise UnsafeEntryError(f"hardlink {os.fsdecode(path)!r} -> {os.fsdecode(target)!r}: "
                                   "the target is not an earlier regular file")
        defaults = dict(mode=node.mode, uid=node.uid, gid=node.gid, uname=node.uname, gname=node.gname,
                        mtime=node.mtime, ctime=node.ctime)
        defaults.update({k: v for k, v in attrs.items() if v is not None})
        self.add_file_blocks(path, node.blocks, node.size, **defaults)
        self.stats.hardlink += 1

    def add_symlink(self, path: str | bytes, target: str | bytes, mode: int = 0o777, uid: int = 0,
                    gid: int = 0, uname: str | None = None, gname: str | None = None,
                    mtime: float | None = 0, ctime: float | None = None) -> None:
        raw = os.fsencode(target)
        node = _Node(TAG_LINK, size=len(raw), target=raw, **self._attrs(mode, uid, gid, uname, gname, mtime, ctime))
        self._put(path, node)
        self.stats.symlink += 1

    def add_special(self, path: str | bytes, kind: str, rdev: int = 0, mode: int = 0o600, uid: int = 0,
                    gid: int = 0, uname: str | None = None, gname: str | None = None,
                    mtime: float | None = 0, ctime: float | None = None) -> None:
        """`kind` is char, block, fifo or socket; devices carry `rdev` (os.makedev)."""
        if kind not in _SPECIAL_TYPES:
            raise UnsafeEntryError(f"special kind {kind!r} is not one of {', '.join(_SPECIAL_TYPES)}")
        data = f"{os.major(rdev)},{os.minor(rdev)}".encode() if kind in ("char", "block") else b"(nothing)"
        node = _Node(TAG_SPECIAL, special_type=_SPECIAL_TYPES[kind], special_data=data,
                     **self._attrs(mode, uid, gid, uname, gname, mtime, ctime))
        self._put(path, node)
        self.stats.special += 1

    def _find(self, rel: bytes) -> _Node | None:
        node: _Node | None = self.root
        for part in rel.split(b"/") if rel else []:
            if node is None or node.children is None:
                return None
            node = node.children.get(part)
        return node

    def exists(self, path: str | bytes) -> bool:
        return self._find(clean_path(path)) is not None

    def read_small_file(self, path: str | bytes, limit: int = 1 << 20) -> bytes | None:
        """Content of a small file already added (the hub reads `.README.md` this way)."""
        from zos.fs.store import fetch_chunk
        node = self._find(clean_path(path))
        if node is None or node.tag != TAG_FILE or node.size > limit or self.store is None:
            return None
        if self.uploader:
            self.uploader.flush()
        return b"".join(fetch_chunk([self.store], b.id, b.key) for b in node.blocks)

    def set_metadata(self, key: str, value: Any) -> None:
        """Store `value` as JSON text under `key` (spec §7)."""
        self.metadata[key] = json.dumps(value)

    # -- output -----------------------------------------------------------------------------
    def _emit(self, sink: EntriesWriter) -> None:
        acis: set[str] = set()

        def acl(node: _Node) -> str:
            key = aclkey(node.uname, node.gname, node.mode, node.uid, node.gid)
            if key not in acis:
                acis.add(key)
                sink.put(key, encode_aci(Aci(node.uname, node.gname, node.mode, node.uid, node.gid)))
            return key

        # Iterative post-order: a deep tree must not hit the recursion limit.
        stack: list[tuple[bytes, _Node, bool]] = [(b"", self.root, False)]
        while stack:
            rel, node, done = stack.pop()
            assert node.children is not None
            if not done:
                stack.append((rel, node, True))
                for name, child in node.children.items():
                    if child.tag == TAG_DIR:
                        stack.append((rel + b"/" + name if rel else name, child, False))
                continue
            contents = []
            for name in sorted(node.children):
                child = node.children[name]
                child_rel = rel + b"/" + name if rel else name
                inode = RawInode(name=name, size=child.size, tag=child.tag, aclkey=acl(child),
                                 mtime=child.mtime, ctime=child.ctime)
                if child.tag == TAG_DIR:
                    inode.size = 4096
                    inode.subdir = dirkey(child_rel)
                elif child.tag == TAG_FILE:
                    inode.block_size = BLOCK_SIZE_FIELD
                    inode.blocks = child.blocks
                elif child.tag == TAG_LINK:
                    inode.target = child.target
                else:
                    inode.special_type = child.special_type
                    inode.special_data = child.special_data
                contents.append(inode)
            parent = rel.rpartition(b"/")[0]
            sink.put(dirkey(rel), encode_dir(RawDir(
                name=rel.rpartition(b"/")[2], location=rel, parent=dirkey(parent if rel else b""),
                size=4096, aclkey=acl(node), mtime=node.mtime, ctime=node.ctime, contents=contents)))
        for key, text in self.metadata.items():
            sink.put_metadata(key, text)

    def flush_chunks(self) -> None:
        if self.uploader:
            try:
                self.uploader.flush()
            finally:
                self.uploader.close()
            self.stats.chunks = self.uploader.chunks
            self.stats.chunks_new = self.uploader.chunks_new

    def write(self, out: str | os.PathLike[str], format: str = "hub") -> Path:
        """Write the flist: `hub` = tar.gz with flistdb.sqlite3, `native` = RocksDB directory.
        Nothing appears at `out` unless the whole write succeeds."""
        if format not in FORMATS:
            raise FlistError(f"format {format!r} is not one of {', '.join(FORMATS)}")
        self.flush_chunks()
        return write_flist(out, format, self._emit)


def _read_full(stream: BinaryIO, size: int) -> bytes:
    parts = []
    remaining = size
    while remaining:
        piece = stream.read(remaining)
        if not piece:
            break
        parts.append(piece)
        remaining -= len(piece)
    return b"".join(parts)
