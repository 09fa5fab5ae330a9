"""Directory tree -> flist, reading owners, modes and device numbers with lstat."""

from __future__ import annotations

import grp
import os
import pwd
import stat
from functools import lru_cache

from ._writer import FlistBuilder


@lru_cache(maxsize=4096)
def _user(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


@lru_cache(maxsize=4096)
def _group(gid: int) -> str:
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)


def _attrs(st: os.stat_result) -> dict:
    return dict(mode=stat.S_IMODE(st.st_mode), uid=st.st_uid, gid=st.st_gid, uname=_user(st.st_uid),
                gname=_group(st.st_gid), mtime=st.st_mtime, ctime=st.st_ctime)


def add_tree(builder: FlistBuilder, root: str | os.PathLike[str]) -> None:
    """Add everything below `root` (its own attributes become the flist root's). Symlinks are
    stored, never followed; files with several links share one block list."""
    root = os.fsencode(root)
    builder.add_dir(b"", **_attrs(os.lstat(root)))
    builder.stats.directory -= 1  # the root is not counted as an entry
    seen: dict[tuple[int, int], bytes] = {}
    stack = [b""]
    while stack:
        rel = stack.pop()
        with os.scandir(os.path.join(root, rel) if rel else root) as it:
            entries = sorted(it, key=lambda e: e.name)
        for entry in entries:
            child = rel + b"/" + entry.name if rel else entry.name
            st = entry.stat(follow_symlinks=False)
            attrs = _attrs(st)
            if stat.S_ISDIR(st.st_mode):
                builder.add_dir(child, **attrs)
                stack.append(child)
            elif stat.S_ISREG(st.st_mode):
                inode = (st.st_dev, st.st_ino)
                if st.st_nlink > 1 and inode in seen:
                    builder.add_hardlink(child, seen[inode], **attrs)
                    continue
                with open(entry.path, "rb") as handle:
                    builder.add_file(child, handle, **attrs)
                if st.st_nlink > 1:
                    seen[inode] = child
            elif stat.S_ISLNK(st.st_mode):
                builder.add_symlink(child, os.readlink(entry.path), **attrs)
            elif stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
                builder.add_special(child, "char" if stat.S_ISCHR(st.st_mode) else "block",
                                    rdev=st.st_rdev, **attrs)
            elif stat.S_ISFIFO(st.st_mode):
                builder.add_special(child, "fifo", **attrs)
            elif stat.S_ISSOCK(st.st_mode):
                builder.add_special(child, "socket", **attrs)
