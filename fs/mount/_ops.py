"""The pyfuse3 operations of a read-only flist mount (spec §10).

Concurrency: pyfuse3 runs on asyncio (`pyfuse3.asyncio.enable()`, see `_daemon.py`). Anything
that may block - SQLite/RocksDB directory loads, chunk fetches, cache files - runs in a worker
thread via `run_in_executor`; in-memory hits (directory LRU, inode table) are answered on the
loop directly. Attributes always come from the flist, never from cache files.
"""

from __future__ import annotations

import asyncio
import errno
import itertools
import logging
import os
from collections.abc import Callable, Sequence
from typing import Any

import pyfuse3

from zos.fs import CHUNK_SIZE, ChunkError, Entry, EntryNotFoundError, Flist, FlistError, StoreError

from ._dircache import DirCache, Listing
from ._inodes import ROOT_INODE, InodeTable
from ._prefetch import Prefetcher
from ._router import ChunkFetchError, Router
from ._stats import MountStats

log = logging.getLogger("zos.fs.mount")


class _Handle:
    __slots__ = ("entry", "layer", "next_offset", "read_once")

    def __init__(self, entry: Entry, layer: int) -> None:
        self.entry = entry
        self.layer = layer
        self.next_offset = 0
        self.read_once = False


class FlistOperations(pyfuse3.Operations):
    supports_dot_lookup = False
    enable_writeback_cache = False

    def __init__(self, layers: Sequence[Flist], router: Router, prefetcher: Prefetcher, stats: MountStats,
                 *, dir_cache: int = 1024, attr_timeout: float = 3600.0, executor: Any = None,
                 on_error: Callable[[bytes, Exception], None] | None = None) -> None:
        super().__init__()
        self.layers = list(layers)
        self.dirs = DirCache(self.layers, dir_cache)
        self.inodes = InodeTable()
        self.router = router
        self.prefetcher = prefetcher
        self.stats = stats
        self.attr_timeout = attr_timeout
        self.executor = executor
        self.on_error = on_error
        self._root: tuple[Entry, int] | None = None
        self._handles: dict[int, _Handle] = {}
        self._next_fh = itertools.count(1)

    # -- helpers --------------------------------------------------------------------------------
    async def _run(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self.executor, fn, *args)

    def _fail(self, rel: bytes, exc: Exception) -> pyfuse3.FUSEError:
        if isinstance(exc, EntryNotFoundError):
            return pyfuse3.FUSEError(errno.ENOENT)
        log.error("flist %s, path /%s: %s", self.layers[0].source, rel.decode(errors="replace"), exc)
        self.stats.add(errors=1)
        if self.on_error is not None:
            self.on_error(rel, exc)
        return pyfuse3.FUSEError(errno.EIO)

    async def _listing(self, rel: bytes) -> Listing:
        found = self.dirs.peek(rel)
        if found is not None:
            return found
        try:
            return await self._run(self.dirs.load, rel)
        except (FlistError, OSError, ValueError) as exc:
            raise self._fail(rel, exc) from None

    async def _entry(self, rel: bytes) -> tuple[Entry, int]:
        if not rel:
            if self._root is None:
                try:
                    self._root = await self._run(self.dirs.root)
                except (FlistError, OSError, ValueError) as exc:
                    raise self._fail(rel, exc) from None
            return self._root
        parent, _, name = rel.rpartition(b"/")
        listing = await self._listing(parent)
        found = listing.children.get(name)
        if found is None:
            raise pyfuse3.FUSEError(errno.ENOENT)
        return found

    def _path(self, ino: int) -> bytes:
        rel = self.inodes.path(ino)
        if rel is None:
            raise pyfuse3.FUSEError(errno.ENOENT)
        return rel

    async def _attrs(self, entry: Entry, ino: int, listing: Listing | None = None) -> pyfuse3.EntryAttributes:
        attrs = pyfuse3.EntryAttributes()
        attrs.st_ino = ino
        attrs.generation = 0
        attrs.entry_timeout = self.attr_timeout
        attrs.attr_timeout = self.attr_timeout
        attrs.st_mode = entry.st_mode
        if entry.kind == "dir":
            if listing is None:
                listing = await self._listing(entry.path)
            attrs.st_nlink = 2 + listing.subdirs
        else:
            attrs.st_nlink = 1
        attrs.st_uid = entry.uid
        attrs.st_gid = entry.gid
        attrs.st_rdev = entry.rdev
        attrs.st_size = entry.size
        attrs.st_blksize = CHUNK_SIZE
        attrs.st_blocks = -(-entry.size // 512)
        attrs.st_atime_ns = attrs.st_mtime_ns = entry.mtime * 1_000_000_000
        attrs.st_ctime_ns = entry.ctime * 1_000_000_000
        return attrs

    # -- metadata -------------------------------------------------------------------------------
    async def lookup(self, parent_inode: int, name: bytes, ctx: Any = None) -> pyfuse3.EntryAttributes:
        parent = self._path(parent_inode)
        if name == b".":
            rel = parent
        elif name == b"..":
            rel = parent.rpartition(b"/")[0]
        else:
            rel = parent + b"/" + name if parent else name
        entry, _ = await self._entry(rel)
        return await self._attrs(entry, self.inodes.inode(rel))

    async def getattr(self, inode: int, ctx: Any = None) -> pyfuse3.EntryAttributes:
        entry, _ = await self._entry(self._path(inode))
        return await self._attrs(entry, inode)

    async def readlink(self, inode: int, ctx: Any) -> bytes:
        entry, _ = await self._entry(self._path(inode))
        if entry.kind != "symlink":
            raise pyfuse3.FUSEError(errno.EINVAL)
        return entry.target

    async def opendir(self, inode: int, ctx: Any) -> int:
        entry, _ = await self._entry(self._path(inode))
        if entry.kind != "dir":
            raise pyfuse3.FUSEError(errno.ENOTDIR)
        return inode

    async def readdir(self, fh: int, start_id: int, token: pyfuse3.ReaddirToken) -> None:
        rel = self._path(fh)
        listing = await self._listing(rel)
        names = listing.names
        # Child directories need their own listing for st_nlink: load the missing ones in one hop.
        wanted = [listing.children[n][0].path for n in names[start_id:start_id + 256]
                  if listing.children[n][0].kind == "dir"]
        missing = [p for p in wanted if self.dirs.peek(p) is None]
        if missing:
            try:
                await self._run(lambda: [self.dirs.load(p) for p in missing])
            except (FlistError, OSError, ValueError) as exc:
                raise self._fail(rel, exc) from None
        for index in range(start_id, len(names)):
            entry, _ = listing.children[names[index]]
            child = self.dirs.peek(entry.path) if entry.kind == "dir" else None
            attrs = await self._attrs(entry, self.inodes.inode(entry.path), child)
            if not pyfuse3.readdir_reply(token, entry.name, attrs, index + 1):
                break

    async def releasedir(self, fh: int) -> None:
        return None

    async def forget(self, inode_list: Sequence[tuple[int, int]]) -> None:
        return None  # inode numbers are stable for the mount's life

    async def statfs(self, ctx: Any) -> pyfuse3.StatvfsData:
        data = pyfuse3.StatvfsData()
        data.f_bsize = 4096
        data.f_frsize = 4096
        data.f_namemax = 255
        for name in ("f_blocks", "f_bfree", "f_bavail", "f_files", "f_ffree", "f_favail"):
            setattr(data, name, 0)
        return data

    async def getxattr(self, inode: int, name: bytes, ctx: Any) -> bytes:
        raise pyfuse3.FUSEError(errno.ENODATA)  # flists hold no xattrs

    async def listxattr(self, inode: int, ctx: Any) -> list[bytes]:
        return []

    # -- data -----------------------------------------------------------------------------------
    async def open(self, inode: int, flags: int, ctx: Any) -> pyfuse3.FileInfo:
        if flags & (os.O_WRONLY | os.O_RDWR | os.O_TRUNC | os.O_APPEND):
            raise pyfuse3.FUSEError(errno.EROFS)
        entry, layer = await self._entry(self._path(inode))
        if entry.kind == "dir":
            raise pyfuse3.FUSEError(errno.EISDIR)
        fh = next(self._next_fh)
        self._handles[fh] = _Handle(entry, layer)
        return pyfuse3.FileInfo(fh=fh, keep_cache=True)  # flists are immutable

    async def read(self, fh: int, off: int, size: int) -> bytes:
        handle = self._handles.get(fh)
        if handle is None:
            raise pyfuse3.FUSEError(errno.EBADF)
        entry = handle.entry
        end = min(entry.size, off + size)
        self.stats.add(reads=1)
        if entry.kind != "file" or off >= end:
            return b""
        chunk = entry.chunk_size
        blocks = entry.blocks
        if not handle.read_once:
            # A read reaching us means the page cache lacks this file: its directory's next
            # files are likely next (tar, cp -r, imports), so fetch their first chunks now.
            handle.read_once = True
            parent, _, name = entry.path.rpartition(b"/")
            listing = self.dirs.peek(parent)
            if listing is not None:
                self.prefetcher.after_open(listing, name)
        try:
            if len(blocks) != -(-entry.size // chunk):  # irregular legacy file (spec §8.5)
                data = await self._run(self._read_irregular, handle, off, end - off)
            else:
                first, last = off // chunk, (end - 1) // chunk
                if first == last:  # the common case: no gather, and no thread hop on a memory hit
                    plain = self.router.from_memory(blocks[first].id)
                    if plain is None:
                        plain = await self._run(self.router.chunk, blocks[first], handle.layer,
                                                min(chunk, entry.size - first * chunk))
                    data = plain[off - first * chunk:end - first * chunk]
                else:
                    parts = await asyncio.gather(*(
                        self._run(self.router.chunk, blocks[i], handle.layer, min(chunk, entry.size - i * chunk))
                        for i in range(first, last + 1)))
                    data = b"".join(parts)[off - first * chunk:end - first * chunk]
                if off == 0 or off == handle.next_offset:
                    self.prefetcher.after_read(entry, handle.layer, last)
        except (ChunkError, ChunkFetchError, FlistError, StoreError, OSError) as exc:
            raise self._fail(entry.path, exc) from None
        handle.next_offset = end
        self.stats.add(bytes=len(data))
        return data

    def _read_irregular(self, handle: _Handle, off: int, size: int) -> bytes:
        layer = handle.layer
        return self.layers[layer].read(handle.entry, off, size, self.router.stores[layer],
                                       self.router.verify_id)

    async def release(self, fh: int) -> None:
        self._handles.pop(fh, None)

    # -- everything that would change the tree ------------------------------------------------
    async def _readonly(self, *args: Any, **kwargs: Any) -> Any:
        raise pyfuse3.FUSEError(errno.EROFS)

    setattr = mknod = mkdir = unlink = rmdir = symlink = rename = link = _readonly
    create = write = setxattr = removexattr = _readonly


__all__ = ["FlistOperations", "ROOT_INODE"]
