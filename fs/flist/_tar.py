"""tar stream -> flist without extracting anything to disk (spec §11.6 steps 2-4).

Streaming mode (`r|*`) reads each member once, in order: file contents go straight into the
chunk pipeline, owners and device numbers come from the headers, so an unprivileged process
keeps what `tar -x` would lose (device nodes, foreign owners).
"""

from __future__ import annotations

import os
import tarfile
import zlib
from typing import BinaryIO

from ._errors import FlistFormatError, UnsafeEntryError
from ._writer import FlistBuilder, clean_path

MAX_EXTENDED_HEADER = 1 << 20
_EXTENDED = (tarfile.XHDTYPE, tarfile.XGLTYPE, tarfile.SOLARIS_XHDTYPE,
             tarfile.GNUTYPE_LONGNAME, tarfile.GNUTYPE_LONGLINK)


class _BoundedTarInfo(tarfile.TarInfo):
    """Refuses pax/GNU long-name headers above 1 MiB before tarfile reads them into memory."""

    def _proc_member(self, tar: tarfile.TarFile) -> tarfile.TarInfo:  # type: ignore[override]
        if self.type in _EXTENDED and self.size > MAX_EXTENDED_HEADER:
            raise UnsafeEntryError(f"tar extended header of {self.size} bytes (limit {MAX_EXTENDED_HEADER})")
        return super()._proc_member(tar)  # type: ignore[misc]


def member_path(name: str) -> bytes:
    """Strip leading `./` and `/`; refuse `..`, NUL and over-long paths."""
    return clean_path(name)


def add_tar(builder: FlistBuilder, fileobj: BinaryIO) -> None:
    """Add every member of the tar stream `fileobj` (any compression tarfile detects)."""
    try:
        with tarfile.open(fileobj=fileobj, mode="r|*", tarinfo=_BoundedTarInfo, bufsize=1 << 20) as tar:
            for member in tar:
                _add_member(builder, tar, member)
    except (tarfile.TarError, EOFError, zlib.error, OSError) as exc:
        raise FlistFormatError(f"corrupt or truncated tar archive: {exc or type(exc).__name__}") from None


def _add_member(builder: FlistBuilder, tar: tarfile.TarFile, member: tarfile.TarInfo) -> None:
    rel = member_path(member.name)
    ctime = member.pax_headers.get("ctime")
    attrs = dict(mode=member.mode, uid=member.uid, gid=member.gid, uname=member.uname or None,
                 gname=member.gname or None, mtime=member.mtime,
                 ctime=float(ctime) if ctime else None)
    if not rel and not member.isdir():
        raise UnsafeEntryError(f"tar member {member.name!r} names the root but is not a directory")
    if member.isreg():
        stream = tar.extractfile(member)
        assert stream is not None
        builder.add_file(rel, stream, **attrs)
    elif member.isdir():
        builder.add_dir(rel, **attrs)
    elif member.issym():
        builder.add_symlink(rel, member.linkname, **attrs)
    elif member.islnk():
        builder.add_hardlink(rel, member_path(member.linkname), **attrs)
    elif member.ischr() or member.isblk():
        builder.add_special(rel, "char" if member.ischr() else "block",
                            rdev=os.makedev(member.devmajor, member.devminor), **attrs)
    elif member.isfifo():
        builder.add_special(rel, "fifo", **attrs)
    else:
        builder.stats.failure += 1
