"""Pack a tree: newc cpio, compressed, with the manifest's entry list and size groups."""

from __future__ import annotations

import dataclasses
import io
import stat
import zlib

from ._compress import compress
from ._cpio import CpioEntry, write_cpio
from ._digest import sha256_bytes
from ._progress import Reporter
from ._tree import Tree


@dataclasses.dataclass(frozen=True)
class Packed:
    data: bytes                      # the compressed archive
    cpio_size: int
    files: list[dict]                # one manifest item per entry, in archive order
    groups: dict[str, dict[str, int]]  # size breakdown: files, bytes, gzip_alone


def group_of(path: str, default: str) -> str:
    """The size-breakdown group of an image path."""
    parts = path.split("/")
    if "site-packages" in parts:
        index = parts.index("site-packages")
        top = parts[index + 1] if len(parts) > index + 1 else ""
        if top in ("zos",) or top.startswith("zos-"):
            return "python: zos (project)"
        name = top.split("-")[0].split(".")[0]
        return f"python: {name}" if name else "python: site-packages"
    if "lib-dynload" in parts:
        return "python: stdlib extension modules"
    return default


def pack(tree: Tree, mtime: int, compression: str, report: Reporter) -> Packed:
    files: list[dict] = []
    groups: dict[str, dict[str, int]] = {}
    group_data: dict[str, list[bytes]] = {}

    def entries():
        for path, node, entry in tree.entries(mtime):
            files.append(_manifest_item(path, node.kind, entry, node.target, node.device))
            if node.kind == "file":
                group = group_of(path, node.group)
                totals = groups.setdefault(group, {"files": 0, "bytes": 0})
                totals["files"] += 1
                totals["bytes"] += len(entry.data)
                group_data.setdefault(group, []).append(entry.data)
            yield entry

    buffer = io.BytesIO()
    cpio_size = write_cpio(buffer, entries())
    report(f"compress: {compression} ({cpio_size / 1e6:.1f} MB cpio)")
    data = compress(buffer.getvalue(), compression)
    for group, chunks in group_data.items():
        groups[group]["gzip_alone"] = len(zlib.compress(b"".join(chunks), 6))
    return Packed(data, cpio_size, files, groups)


def _manifest_item(path: str, kind: str, entry: CpioEntry, target: str,
                   device: tuple[str, int, int] | None) -> dict:
    item: dict = {"path": path, "type": kind, "mode": f"{stat.S_IMODE(entry.mode):04o}",
                  "uid": entry.uid, "gid": entry.gid}
    if kind == "file":
        item["size"] = len(entry.data)
        item["sha256"] = sha256_bytes(entry.data)
    elif kind == "symlink":
        item["target"] = target
    elif kind == "device" and device is not None:
        item["device"] = f"{device[0]} {device[1]} {device[2]}"
    return item
