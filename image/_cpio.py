"""newc cpio ("070701"), the format the kernel unpacks into its initramfs.

Entry = 110-byte ASCII header (magic + 13 eight-digit hex fields: ino, mode, uid, gid, nlink,
mtime, filesize, devmajor, devminor, rdevmajor, rdevminor, namesize incl. NUL, check) + the
NUL-terminated name padded to 4 + the data padded to 4. The archive ends with `TRAILER!!!`.

The writer takes entries already normalised (see `_tree.py`) and numbers inodes 1, 2, 3... in
the order given, so the bytes depend only on the entries.
"""

from __future__ import annotations

import dataclasses
import os
import stat
from pathlib import Path
from typing import BinaryIO
from collections.abc import Iterable, Iterator

from ._errors import ImageError

MAGIC = b"070701"
HEADER_SIZE = 110
TRAILER = "TRAILER!!!"


class CpioFormatError(ImageError):
    """The bytes are not a newc cpio archive (or it is cut short)."""


@dataclasses.dataclass(frozen=True)
class CpioEntry:
    name: str                 # relative, no leading "/" ("." is the root)
    mode: int                 # file type bits | permission bits
    data: bytes = b""         # file contents, or the symlink target
    uid: int = 0
    gid: int = 0
    mtime: int = 0
    rdevmajor: int = 0
    rdevminor: int = 0
    ino: int = 0              # set by the writer; read back by the reader
    nlink: int = 1

    @property
    def is_dir(self) -> bool:
        return stat.S_ISDIR(self.mode)


def _pad(length: int) -> bytes:
    return b"\0" * (-length % 4)


def encode_header(entry: CpioEntry, ino: int, size: int) -> bytes:
    name = entry.name.encode() + b"\0"
    nlink = 2 if entry.is_dir else 1
    fields = (ino, entry.mode, entry.uid, entry.gid, nlink, entry.mtime, size,
              0, 0, entry.rdevmajor, entry.rdevminor, len(name), 0)
    for value in fields:
        if not 0 <= value <= 0xFFFFFFFF:
            raise CpioFormatError(f"{entry.name}: header field value {value} does not fit newc (32 bits)")
    header = MAGIC + b"".join(b"%08X" % value for value in fields) + name
    return header + _pad(len(header))


def write_cpio(out: BinaryIO, entries: Iterable[CpioEntry]) -> int:
    """Write `entries` then the trailer; returns the bytes written."""
    written = 0
    ino = 0
    for entry in entries:
        ino += 1
        chunk = encode_header(entry, ino, len(entry.data))
        out.write(chunk)
        out.write(entry.data)
        out.write(_pad(len(entry.data)))
        written += len(chunk) + len(entry.data) + len(_pad(len(entry.data)))
    trailer = encode_header(CpioEntry(TRAILER, 0), 0, 0)
    out.write(trailer)
    return written + len(trailer)


def read_cpio(data: bytes) -> Iterator[CpioEntry]:
    """Parse a newc archive (one; stops at the trailer). Raises CpioFormatError on bad bytes."""
    offset = 0
    while True:
        if offset + HEADER_SIZE > len(data):
            raise CpioFormatError(f"archive cut short at offset {offset} (no trailer)")
        header = data[offset:offset + HEADER_SIZE]
        if header[:6] != MAGIC:
            raise CpioFormatError(f"bad magic {header[:6]!r} at offset {offset}")
        try:
            fields = [int(header[6 + 8 * i:14 + 8 * i], 16) for i in range(13)]
        except ValueError:
            raise CpioFormatError(f"header at offset {offset} has non-hex fields") from None
        ino, mode, uid, gid, nlink, mtime, size, _, _, rmaj, rmin, namesize, _ = fields
        if namesize < 1:
            raise CpioFormatError(f"entry at offset {offset} has an empty name")
        name_end = offset + HEADER_SIZE + namesize
        raw_name = data[offset + HEADER_SIZE:name_end]
        if len(raw_name) != namesize or raw_name[-1:] != b"\0":
            raise CpioFormatError(f"name of entry at offset {offset} is not NUL-terminated")
        try:
            name = raw_name[:-1].decode()
        except UnicodeDecodeError:
            raise CpioFormatError(f"name of entry at offset {offset} is not UTF-8") from None
        start = name_end + (-(HEADER_SIZE + namesize) % 4)
        if start + size > len(data):
            raise CpioFormatError(f"{name}: data cut short ({size} bytes declared)")
        if name == TRAILER:
            return
        yield CpioEntry(name=name, mode=mode, data=data[start:start + size], uid=uid, gid=gid,
                        mtime=mtime, rdevmajor=rmaj, rdevminor=rmin, ino=ino, nlink=nlink)
        offset = start + size + (-size % 4)


def extract_cpio(data: bytes, root: Path, mtime: bool = True) -> int:
    """Unpack a newc archive under `root` without root rights: folders, files and symlinks with
    their modes (and mtimes); device nodes are skipped. Returns how many entries were written."""
    written = 0
    for entry in read_cpio(data):
        if entry.name.startswith("/") or ".." in entry.name.split("/"):
            raise CpioFormatError(f"{entry.name}: refusing a name outside the folder")
        path = Path(root, entry.name)
        if stat.S_ISDIR(entry.mode):
            path.mkdir(parents=True, exist_ok=True)
        elif stat.S_ISLNK(entry.mode):
            path.symlink_to(entry.data.decode())
        elif stat.S_ISREG(entry.mode):
            path.write_bytes(entry.data)
        else:
            continue
        if not stat.S_ISLNK(entry.mode):
            path.chmod(stat.S_IMODE(entry.mode))
        if mtime:
            os.utime(path, (entry.mtime, entry.mtime), follow_symlinks=False)
        written += 1
    return written
