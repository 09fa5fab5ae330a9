"""Keys of the entries table (spec §5): directory keys from relpaths, ACL keys from owner text."""

from __future__ import annotations

import hashlib
import os

MAX_PATH = 4095


def relpath(path: str | bytes) -> bytes:
    """Any spelling of a path inside an flist -> canonical relpath bytes (no leading or trailing
    `/`, no empty or `.` components). The root is `b""`."""
    raw = os.fsencode(path)
    return b"/".join(part for part in raw.split(b"/") if part and part != b".")


def dirkey(rel: bytes) -> str:
    """`hex(B2-128(relpath))`, e.g. `dirkey(b"") == "cae66941d9efbd404e4d88758ea67670"`."""
    return hashlib.blake2b(rel, digest_size=16).hexdigest()


def legacy_dirkey(rel: bytes) -> str:
    """G0/G1 directory key: `hex(B2-256(relpath))` with the always-empty namespace."""
    return hashlib.blake2b(rel, digest_size=32).hexdigest()


ROOT_KEY = dirkey(b"")
LEGACY_ROOT_KEY = legacy_dirkey(b"")


def acl_text(uname: str, gname: str, mode: int, uid: int, gid: int) -> str:
    return f"user:{uname}\ngroup:{gname}\nmode:0o{mode & 0o7777:o}\nuid:{uid}\ngid:{gid}"


def aclkey(uname: str, gname: str, mode: int, uid: int, gid: int) -> str:
    """`hex(B2-64(text))` of the fixed ACL text (spec §5.3); root/root/0o755/0/0 -> d7683de000c13689."""
    text = acl_text(uname, gname, mode, uid, gid)
    return hashlib.blake2b(os.fsencode(text), digest_size=8).hexdigest()
