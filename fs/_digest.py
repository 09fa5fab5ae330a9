"""The hex digest of a file's bytes, read in blocks.

One helper for every part that names or checks a file by its content: the copies of flist
archives (`DATA/flists/<sha256>/`), the hub's `.flist.md5` and upload events, and the image
builder's cache keys and manifest. It lives in `zos.fs` because the hub already reads flists
through `zos.fs`, and the image builder may import any part's public names.
"""

from __future__ import annotations

import hashlib
import os


def file_digest(path: str | os.PathLike[str], algorithm: str = "sha256") -> str:
    """`file_digest(p)` is `sha256sum p`; `file_digest(p, "md5")` is `md5sum p`."""
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, algorithm).hexdigest()
