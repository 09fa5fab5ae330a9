"""Errors of the flist library.

    FlistError
    ├── FlistFormatError     not an flist, or a corrupt one (unknown format, undecodable entry)
    ├── EntryNotFoundError   no entry at that path (also a FileNotFoundError)
    ├── NotADirectoryError_  a path component is not a directory
    └── UnsafeEntryError     input (tar member, path) that would escape or is not representable
"""

from __future__ import annotations


class FlistError(Exception):
    """Anything the flist library refuses or cannot do."""


class FlistFormatError(FlistError, ValueError):
    """The bytes are not a readable flist (or an entry in it is corrupt)."""


class EntryNotFoundError(FlistError, FileNotFoundError):
    """The flist has no entry at the path."""

    def __init__(self, path: bytes, flist: str = "") -> None:
        self.path = path
        where = f" in {flist}" if flist else ""
        super().__init__(f"no entry '/{path.decode(errors='replace')}'{where}")


class NotADirectoryEntryError(FlistError, NotADirectoryError):
    """A path used as a directory names a file, link or special."""


class UnsafeEntryError(FlistError, ValueError):
    """An input path or member is unsafe (absolute escape, `..`, too long) or not representable."""
