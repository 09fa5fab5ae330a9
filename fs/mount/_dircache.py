"""Bounded LRU of decoded directories, merged over the mount's layers (first layer wins).

A listing maps each child name to its `Entry` and the index of the layer it came from (the
layer decides which stores serve its chunks). Loading touches SQLite/RocksDB: call `load`
from a worker thread; `peek` is the in-memory fast path for the event loop.
"""

from __future__ import annotations

import collections
import dataclasses
import threading
from collections.abc import Sequence

from zos.fs import EntryNotFoundError, Entry, Flist


@dataclasses.dataclass(slots=True)
class Listing:
    names: list[bytes]                       # readdir order (first layer's order, then new names)
    children: dict[bytes, tuple[Entry, int]]  # name -> (entry, layer index)
    subdirs: int = 0                         # for st_nlink = 2 + subdirs
    positions: dict[bytes, int] = dataclasses.field(default_factory=dict)  # name -> index in names


def layer_dir_indexes(layers: Sequence[Flist], rel: bytes) -> list[int]:
    """Layers that contribute a directory at `rel`: every layer holding it as a directory,
    stopping at the first layer where it is something else (that shadows the rest)."""
    found = []
    for index, fl in enumerate(layers):
        try:
            entry = fl.lookup(rel)
        except EntryNotFoundError:
            continue
        if entry.kind != "dir":
            break
        found.append(index)
    return found


class DirCache:
    def __init__(self, layers: Sequence[Flist], size: int = 1024) -> None:
        self.layers = list(layers)
        self.size = size
        self._lock = threading.Lock()
        self._lru: collections.OrderedDict[bytes, Listing] = collections.OrderedDict()

    def peek(self, rel: bytes) -> Listing | None:
        with self._lock:
            found = self._lru.get(rel)
            if found is not None:
                self._lru.move_to_end(rel)
            return found

    def load(self, rel: bytes) -> Listing:
        """The merged listing of directory `rel`; EntryNotFoundError when no layer has it."""
        found = self.peek(rel)
        if found is not None:
            return found
        indexes = [0] if len(self.layers) == 1 else layer_dir_indexes(self.layers, rel)
        if not indexes:
            raise EntryNotFoundError(rel, str(self.layers[0].source))
        names: list[bytes] = []
        children: dict[bytes, tuple[Entry, int]] = {}
        for index in indexes:
            for entry in self.layers[index].listdir(rel):
                name = entry.name
                if name not in children:
                    children[name] = (entry, index)
                    names.append(name)
        listing = Listing(names, children, sum(1 for e, _ in children.values() if e.kind == "dir"),
                          {name: i for i, name in enumerate(names)})
        with self._lock:
            self._lru[rel] = listing
            while len(self._lru) > self.size:
                self._lru.popitem(last=False)
        return listing

    def root(self) -> tuple[Entry, int]:
        return self.layers[0].root(), 0
