"""merge(base, *others) (spec §12): first flist wins, directories merged recursively."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from collections.abc import Sequence

from ._capnp import encode_aci, encode_dir
from ._db import EntriesWriter
from ._output import write_flist
from ._keys import aclkey, dirkey
from ._model import TAG_DIR, RawDir, RawInode
from ._reader import Flist


@dataclasses.dataclass
class MergeResult:
    path: Path
    collisions: int = 0
    copied: int = 0
    warnings: list[str] = dataclasses.field(default_factory=list)


class _Merger:
    def __init__(self, base: Flist) -> None:
        self.base = base
        self.dirs: dict[str, RawDir] = {}      # changed or new Dirs, by key
        self.acis: dict[str, bytes] = {}       # new ACI rows
        self.collisions = 0
        self.copied = 0

    def result_dir(self, key: str) -> RawDir:
        if key not in self.dirs:
            d = self.base.raw_dir(key)
            self.dirs[key] = RawDir(d.name, d.location, d.parent, d.size, d.aclkey, d.mtime, d.ctime,
                                    list(d.contents))
        return self.dirs[key]

    def acl(self, other: Flist, key: str) -> str:
        aci = other.aci(key)
        if aci is None:
            return key
        if key in self.acis:
            mine = self.acis[key]
            return key if mine == other.db.get(key) else self._rekey(aci)
        existing = self.base.db.get(key)
        if existing is None:
            self.acis[key] = other.db.get(key) or encode_aci(aci)
            return key
        if self.base.aci(key) == aci:
            return key
        return self._rekey(aci)

    def _rekey(self, aci: object) -> str:
        from ._model import Aci
        assert isinstance(aci, Aci)
        key = aclkey(aci.uname, aci.gname, aci.mode, aci.uid, aci.gid)
        self.acis.setdefault(key, encode_aci(aci))
        return key

    def merge_dir(self, key: str, other: Flist, other_key: str, rel: bytes) -> None:
        theirs = other.raw_dir(other_key)
        for position in sorted(set(theirs.index.values())):
            inode = theirs.contents[position]
            child_rel = rel + b"/" + inode.name if rel else inode.name
            mine = self.result_dir(key)
            found = mine.index.get(inode.name)
            if found is None:
                mine.contents.append(self.copy_inode(other, inode, child_rel))
                mine.index[inode.name] = len(mine.contents) - 1
                self.copied += 1
            elif inode.tag == TAG_DIR and mine.contents[found].tag == TAG_DIR:
                self.merge_dir(mine.contents[found].subdir, other, inode.subdir, child_rel)
            else:
                self.collisions += 1

    def copy_inode(self, other: Flist, inode: RawInode, rel: bytes) -> RawInode:
        copy = dataclasses.replace(inode, aclkey=self.acl(other, inode.aclkey))
        if inode.tag == TAG_DIR:
            copy.subdir = self.copy_subtree(other, inode.subdir, rel)
        return copy

    def copy_subtree(self, other: Flist, other_key: str, rel: bytes) -> str:
        d = other.raw_dir(other_key)
        contents = []
        for position in sorted(set(d.index.values())):
            inode = d.contents[position]
            contents.append(self.copy_inode(other, inode, rel + b"/" + inode.name))
            self.copied += 1
        key = dirkey(rel)
        self.dirs[key] = RawDir(rel.rpartition(b"/")[2], rel, dirkey(rel.rpartition(b"/")[0]), 4096,
                                self.acl(other, d.aclkey), d.mtime, d.ctime, contents)
        return key


def merge(base: Flist, others: Sequence[Flist], out: str | os.PathLike[str], format: str = "hub") -> MergeResult:
    """Write `base` + `others` to `out`: entries absent from the result are copied, existing
    ones win, directories present in both are merged. Metadata comes from `base` only."""
    merger = _Merger(base)
    warnings = []
    base_backend = base.metadata.get("backend")
    for other in others:
        merger.merge_dir(base.root_key, other, other.root_key, b"")
        backend = other.metadata.get("backend")
        if backend is not None and backend != base_backend:
            warnings.append(f"{other.source} has backend {backend!r}, base has {base_backend!r}: "
                            "its chunks may not be in the base's store (run check)")
    def fill(sink: EntriesWriter) -> None:
        for key, value in base.db.items():
            if key not in merger.dirs:
                sink.put(key, value)
        for key, d in merger.dirs.items():
            sink.put(key, encode_dir(d))
        for key, value in merger.acis.items():
            sink.put(key, value)
        for key, text in base.db.metadata_raw().items():
            sink.put_metadata(key, text)

    out = write_flist(out, format, fill)
    return MergeResult(Path(out), merger.collisions, merger.copied, warnings)
