"""Deterministic compression of the archive: same input bytes, same output bytes.

gzip: level 6 (level 9 takes twice as long for 1% less), no file name, mtime 0 (Python's
GzipFile always writes OS=255). xz: single-threaded, CRC32 check (the kernel's XZ decoder supports only CRC32 or none), LZMA2 preset 9 with a
1 MiB dictionary (the kernel decoder's documented limit for initramfs).
"""

from __future__ import annotations

import gzip
import io
import lzma

from ._errors import ImageError

SUFFIXES = {"gzip": ".gz", "xz": ".xz", "none": ""}


def compress(data: bytes, method: str) -> bytes:
    if method == "gzip":
        out = io.BytesIO()
        with gzip.GzipFile(filename="", fileobj=out, mode="wb", compresslevel=6, mtime=0) as gz:
            gz.write(data)
        return out.getvalue()
    if method == "xz":
        filters = [{"id": lzma.FILTER_LZMA2, "preset": 9, "dict_size": 1 << 20}]
        return lzma.compress(data, format=lzma.FORMAT_XZ, check=lzma.CHECK_CRC32, filters=filters)
    if method == "none":
        return data
    raise ImageError(f"unknown compression {method!r} (gzip, xz, none)")


def decompress(data: bytes) -> bytes:
    """Undo `compress`, by magic bytes."""
    if data[:2] == b"\x1f\x8b":
        return gzip.decompress(data)
    if data[:6] == b"\xfd7zXZ\x00":
        return lzma.decompress(data)
    return data
