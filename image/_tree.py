"""The image tree in memory: image path -> node (file from disk or bytes, dir, symlink, device).

Nothing is copied to a staging folder to pack: files are read from where they are (the cache,
the host) when the archive is written. Normalisation happens in `entries()`: entries sorted by
path bytes (a parent sorts before its children), uid/gid 0 unless set, one mtime, modes 0755 or
0644 by the exec bit unless set, hard links broken (every file is its own inode).
"""

from __future__ import annotations

import dataclasses
import os
import posixpath
import stat
from pathlib import Path
from collections.abc import Iterator

from ._cpio import CpioEntry
from ._errors import BuildError, MissingInputError


@dataclasses.dataclass
class Node:
    kind: str                      # "file", "dir", "symlink", "device"
    group: str                     # for the size breakdown
    source: Path | None = None     # file read from disk at pack time
    data: bytes | None = None      # generated file contents
    target: str = ""               # symlink target
    mode: int | None = None        # permission bits; None = by exec bit
    uid: int = 0
    gid: int = 0
    device: tuple[str, int, int] | None = None   # ("c"|"b", major, minor)

    def read(self) -> bytes:
        if self.data is not None:
            return self.data
        assert self.source is not None
        return self.source.read_bytes()

    def size(self) -> int:
        if self.kind == "symlink":
            return len(self.target.encode())
        if self.kind != "file":
            return 0
        return len(self.data) if self.data is not None else self.source.stat().st_size  # type: ignore[union-attr]


def _norm(path: str) -> str:
    if not path.startswith("/"):
        raise BuildError(f"image path {path!r} is not absolute")
    clean = posixpath.normpath(path)
    return "/" if clean in ("/", "//") else clean


class Tree:
    def __init__(self) -> None:
        self.nodes: dict[str, Node] = {"/": Node("dir", "layout")}

    # -- lookup through symlinked folders (e.g. /lib -> usr/lib) --------------------------------
    def canonical(self, path: str) -> str:
        """`path` with every symlinked parent folder of the tree resolved."""
        parts = _norm(path).strip("/").split("/")
        current = "/"
        for index, part in enumerate(parts):
            if not part:
                continue
            candidate = posixpath.join(current, part)
            node = self.nodes.get(candidate)
            is_last = index == len(parts) - 1
            hops = 0
            while node is not None and node.kind == "symlink" and not is_last:
                hops += 1
                if hops > 16:
                    raise BuildError(f"symlink loop at {candidate}")
                candidate = _norm(posixpath.join(posixpath.dirname(candidate), node.target))
                node = self.nodes.get(candidate)
            current = candidate
        return current

    def _parents(self, path: str, group: str) -> None:
        parent = posixpath.dirname(path)
        chain = []
        while parent not in self.nodes:
            chain.append(parent)
            parent = posixpath.dirname(parent)
        if self.nodes[parent].kind != "dir":
            raise BuildError(f"cannot put {path} under {parent}: it is a {self.nodes[parent].kind}")
        for folder in reversed(chain):
            self.nodes[folder] = Node("dir", group)

    def _put(self, path: str, node: Node) -> str:
        path = self.canonical(path)
        existing = self.nodes.get(path)
        if existing is not None and existing.kind == "dir" and node.kind == "dir":
            return path
        if existing is not None and existing.kind == "dir":
            raise BuildError(f"{path} is a folder in the image; cannot replace it with a {node.kind}")
        self._parents(path, node.group)
        self.nodes[path] = node
        return path

    # -- adding ---------------------------------------------------------------------------------
    def add_dir(self, path: str, group: str = "layout", mode: int | None = None) -> str:
        return self._put(path, Node("dir", group, mode=mode))

    def add_file(self, path: str, *, source: Path | None = None, data: bytes | None = None,
                 group: str, mode: int | None = None, uid: int = 0, gid: int = 0) -> str:
        if source is not None and not source.is_file():
            raise MissingInputError(f"file for {path}", str(source))
        if mode is None and source is not None:
            mode = 0o755 if source.stat().st_mode & 0o111 else 0o644
        return self._put(path, Node("file", group, source=source, data=data, mode=mode, uid=uid, gid=gid))

    def add_symlink(self, path: str, target: str, group: str = "layout") -> str:
        return self._put(path, Node("symlink", group, target=target))

    def add_device(self, path: str, kind: str, major: int, minor: int, mode: int) -> str:
        return self._put(path, Node("device", "layout", mode=mode, device=(kind, major, minor)))

    def add_tree(self, source: Path, dest: str, group: str) -> int:
        """Add everything under the folder `source` at `dest`; returns the number of nodes."""
        if not source.is_dir():
            raise MissingInputError(f"folder for {dest}", str(source))
        count = 0
        for root, dirs, files in os.walk(source):
            dirs.sort()
            rel = os.path.relpath(root, source)
            base = dest if rel == "." else posixpath.join(dest, rel)
            self.add_dir(base, group)
            for name in sorted(dirs + files):
                full = Path(root, name)
                image_path = posixpath.join(base, name)
                if full.is_symlink():
                    self.add_symlink(image_path, os.readlink(full), group)
                    if name in dirs:
                        dirs.remove(name)   # os.walk would not descend, but be explicit
                elif full.is_file():
                    self.add_file(image_path, source=full, group=group)
                count += 1
        return count

    def remove(self, path: str) -> int:
        """Remove a path and everything under it; returns how many nodes went."""
        path = self.canonical(path)
        gone = [p for p in self.nodes if p == path or p.startswith(path.rstrip("/") + "/")]
        for p in gone:
            if p != "/":
                del self.nodes[p]
        return len(gone)

    def exists(self, path: str) -> bool:
        return self.canonical(path) in self.nodes

    def files(self) -> Iterator[tuple[str, Node]]:
        for path in sorted(self.nodes, key=lambda p: p.encode()):
            yield path, self.nodes[path]

    # -- packing --------------------------------------------------------------------------------
    def entries(self, mtime: int) -> Iterator[tuple[str, Node, CpioEntry]]:
        """Normalised cpio entries, sorted by path bytes; "/" becomes "."."""
        for path, node in self.files():
            name = "." if path == "/" else path[1:]
            if node.kind == "dir":
                mode = stat.S_IFDIR | (node.mode if node.mode is not None else 0o755)
                entry = CpioEntry(name, mode, uid=node.uid, gid=node.gid, mtime=mtime)
            elif node.kind == "symlink":
                entry = CpioEntry(name, stat.S_IFLNK | 0o777, node.target.encode(), mtime=mtime)
            elif node.kind == "device":
                kind, major, minor = node.device  # type: ignore[misc]
                fmt = stat.S_IFCHR if kind == "c" else stat.S_IFBLK
                entry = CpioEntry(name, fmt | (node.mode or 0o600), mtime=mtime,
                                  rdevmajor=major, rdevminor=minor)
            else:
                mode = node.mode if node.mode is not None else 0o644
                entry = CpioEntry(name, stat.S_IFREG | mode, node.read(), uid=node.uid, gid=node.gid,
                                  mtime=mtime)
            yield path, node, entry
