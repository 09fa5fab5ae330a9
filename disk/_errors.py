"""Errors of the disk part, as a tree callers can catch at the level they need.

    DiskError
    ├── VdiskConfigError      a vdisk or storage description breaks a rule
    ├── VdiskNotFound         no such vdisk
    ├── VdiskExists           the name is taken
    ├── StorageError          the block store failed (maps to EIO on the wire)
    │   └── StorageBusy       an embedded store is open in another process
    ├── TlogError             the transaction log failed (EIO, vdisk marked failed)
    └── RestoreError          a restore cannot be done (too old, missing source)
"""

from __future__ import annotations


class DiskError(Exception):
    """Base of every error raised by `zos.disk`."""


class VdiskConfigError(DiskError, ValueError):
    """A vdisk, size, block size or storage URL breaks a rule; the message names it."""


class VdiskNotFound(DiskError, KeyError):
    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else "vdisk not found"


class VdiskExists(DiskError):
    """A vdisk of that name already exists."""


class StorageError(DiskError):
    """Reading or writing blocks failed."""


class StorageBusy(StorageError):
    """An embedded store is locked by another process (usually a running disk server)."""


class TlogError(DiskError):
    """Publishing or replaying the transaction log failed."""


class RestoreError(DiskError):
    """The requested restore point or source cannot be rebuilt."""
