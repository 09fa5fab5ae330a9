"""Plain values copied out of capnp messages: what the rest of the code works with."""

from __future__ import annotations

import dataclasses
import stat

# Special.type enum values (spec §4.1).
SPECIAL_SOCKET, SPECIAL_BLOCK, SPECIAL_CHAR, SPECIAL_FIFO, SPECIAL_UNKNOWN = range(5)
# Inode union tags.
TAG_DIR, TAG_FILE, TAG_LINK, TAG_SPECIAL = range(4)

KINDS = ("dir", "file", "symlink", "block", "char", "fifo", "socket", "unknown")
_TYPE_BITS = {"dir": stat.S_IFDIR, "file": stat.S_IFREG, "symlink": stat.S_IFLNK, "block": stat.S_IFBLK,
              "char": stat.S_IFCHR, "fifo": stat.S_IFIFO, "socket": stat.S_IFSOCK, "unknown": stat.S_IFREG}


@dataclasses.dataclass(frozen=True, slots=True)
class Block:
    """One chunk of a file: `id` = store key (B2-128 of ciphertext), `key` = B2-128 of plaintext."""

    id: bytes
    key: bytes


@dataclasses.dataclass(frozen=True, slots=True)
class Aci:
    uname: str
    gname: str
    mode: int
    uid: int = -1
    gid: int = -1


@dataclasses.dataclass(slots=True)
class RawInode:
    name: bytes
    size: int
    tag: int
    aclkey: str
    mtime: int
    ctime: int
    subdir: str = ""
    block_size: int = 0
    blocks: tuple[Block, ...] = ()
    target: bytes = b""
    special_type: int = SPECIAL_UNKNOWN
    special_data: bytes = b""


@dataclasses.dataclass(slots=True)
class RawDir:
    name: bytes
    location: bytes
    parent: str
    size: int
    aclkey: str
    mtime: int
    ctime: int
    contents: list[RawInode]
    index: dict[bytes, int] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        for position, inode in enumerate(self.contents):
            self.index.setdefault(inode.name, position)  # first duplicate wins (spec §5.2)


@dataclasses.dataclass(frozen=True, slots=True)
class Entry:
    """One resolved entry of an flist: what `stat`, `ls` and a FUSE `getattr` need.

    `kind` is one of dir, file, symlink, block, char, fifo, socket, unknown; `mode` holds the
    permission bits including suid/sgid/sticky (`st_mode` adds the type bits).
    """

    path: bytes
    kind: str
    mode: int
    uid: int
    gid: int
    uname: str
    gname: str
    size: int
    mtime: int
    ctime: int
    target: bytes = b""
    rdev: int = 0
    blocks: tuple[Block, ...] = ()
    chunk_size: int = 512 * 1024
    dirkey: str = ""
    aclkey: str = ""

    @property
    def name(self) -> bytes:
        return self.path.rpartition(b"/")[2]

    @property
    def st_mode(self) -> int:
        return _TYPE_BITS[self.kind] | (0o777 if self.kind == "symlink" else self.mode)

    @property
    def is_dir(self) -> bool:
        return self.kind == "dir"
