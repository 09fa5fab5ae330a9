"""SHA-256 of bytes and of files (streamed): the manifest's and the caches' one hash.

Files are hashed by `zos.fs.file_digest`, the one streamed file digest of zos (also behind
the hub's md5s and the flist archive copies); `sha256_file` is its name here.
"""

from __future__ import annotations

import hashlib

from zos.fs import file_digest

sha256_file = file_digest


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
