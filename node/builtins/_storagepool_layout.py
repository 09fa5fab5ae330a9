"""Where a node's storage pools live and who uses them.

A pool `<name>` is the btrfs filesystem labelled `sp_<name>` (the orchestrator's label),
mounted at `<root>/<name>` (root = `AgentConfig.storagepool_root`, /mnt/storagepools
upstream). Inside it, filesystem `<fs>` is the subvolume `filesystems/<fs>` and snapshot
`<snap>` of it is the read-only subvolume `snapshots/<fs>/<snap>`.
"""

from __future__ import annotations

import dataclasses
import os
import re
from pathlib import Path

from zos.bus import token

from ._registry import BuiltinError

NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,49}$")      # pools, filesystems (RAML: a-z, -)
SNAPSHOT_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,49}$")  # RAML: a-z, -, _ and .
LABEL_PREFIX = "sp_"
VOLUME_SCHEME = "storagepool://"


def check_name(kind: str, value: str, pattern: re.Pattern[str] = NAME) -> str:
    if not isinstance(value, str) or not pattern.match(value) or value in (".", ".."):
        raise BuiltinError(400, f"{kind} name '{value}' is not valid: 1 to 50 of a-z, 0-9, "
                                f"{'-, _ and .' if pattern is SNAPSHOT_NAME else '- and _'}, "
                                "starting with a letter or digit")
    return value


def pool_id(node: str, pool: str) -> str:
    return token(f"{node}-{pool}")


def filesystem_id(node: str, pool: str, fs: str) -> str:
    return token(f"{node}-{pool}-{fs}")


def snapshot_id(node: str, pool: str, fs: str, snap: str) -> str:
    return token(f"{node}-{pool}-{fs}-{snap}")


@dataclasses.dataclass(frozen=True)
class Pool:
    root: Path
    name: str

    @property
    def label(self) -> str:
        return LABEL_PREFIX + self.name

    @property
    def mountpoint(self) -> Path:
        return self.root / self.name

    @property
    def filesystems(self) -> Path:
        return self.mountpoint / "filesystems"

    @property
    def snapshots(self) -> Path:
        return self.mountpoint / "snapshots"

    def filesystem(self, fs: str) -> Path:
        return self.filesystems / fs

    def snapshot_dir(self, fs: str) -> Path:
        return self.snapshots / fs

    def snapshot(self, fs: str, snap: str) -> Path:
        return self.snapshots / fs / snap


def volume_path(root: Path, source: str) -> Path:
    """The host path a container mount or a VM file uses for a pool filesystem:
    `storagepool://<pool>/<fs>[/sub/path]` ⇒ `<root>/<pool>/filesystems/<fs>[/sub/path]`.
    A plain path is accepted when it lies inside a pool filesystem. Raises `BuiltinError`
    404 when the pool is not mounted or the filesystem does not exist, 400 for anything else.
    The data lives in the pool, so it outlives the container that mounted it."""
    if source.startswith(VOLUME_SCHEME):
        pool, _, rest = source[len(VOLUME_SCHEME):].partition("/")
        fs, _, sub = rest.partition("/")
        check_name("pool", pool)
        check_name("filesystem", fs)
        if ".." in sub.split("/"):
            raise BuiltinError(400, f"volume '{source}': '..' is not allowed in the path")
        base = Pool(root, pool)
        path = base.filesystem(fs) / sub if sub else base.filesystem(fs)
    else:
        path = Path(os.path.normpath(source))
        try:
            pool, kind, fs, *_ = path.relative_to(root).parts
        except ValueError:
            raise BuiltinError(400, f"volume '{source}' is neither storagepool://<pool>/<fs> nor a "
                                    f"path under {root}") from None
        if kind != "filesystems":
            raise BuiltinError(400, f"volume '{source}' is not inside a pool filesystem")
        base = Pool(root, pool)
    if not os.path.ismount(base.mountpoint):
        raise BuiltinError(404, f"storage pool '{pool}' is not mounted on this node")
    if not base.filesystem(fs).is_dir():
        raise BuiltinError(404, f"storage pool '{pool}' has no filesystem '{fs}'")
    return path


@dataclasses.dataclass(frozen=True)
class MountEntry:
    namespace: str
    device: str       # major:minor
    root: str         # path inside the filesystem
    mountpoint: str


def _unescape(field: str) -> str:
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


def all_mounts() -> list[MountEntry]:
    """Every mount of every mount namespace on the node (a container's bind mounts live in its
    own namespace, invisible in the agent's /proc/self/mountinfo)."""
    seen: dict[str, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                seen.setdefault(os.readlink(entry / "ns" / "mnt"), int(entry.name))
            except OSError:
                continue
    mounts = []
    for namespace, pid in seen.items():
        try:
            text = Path(f"/proc/{pid}/mountinfo").read_text()
        except OSError:
            continue
        for line in text.splitlines():
            fields = line.split()
            if len(fields) >= 5:
                mounts.append(MountEntry(namespace, fields[2], _unescape(fields[3]), _unescape(fields[4])))
    return mounts


def users_of(mountpoint: Path, inside: str = "/") -> list[str]:
    """Mounts (in any namespace) of the filesystem mounted at `mountpoint` whose root is
    `inside` or below, other than the pool mount itself: who would lose data if it went."""
    mounts = all_mounts()
    own_ns = os.readlink("/proc/self/ns/mnt")
    pool = [m for m in mounts if m.namespace == own_ns and m.mountpoint == str(mountpoint)]
    if not pool:
        return []
    device = pool[0].device
    inside = inside.rstrip("/") or "/"
    users = []
    for m in mounts:
        # The pool mount itself, and its copies in namespaces made since (same place, whole fs).
        if m.device != device or (m.mountpoint == str(mountpoint) and m.root == pool[0].root):
            continue
        if inside == "/" or m.root == inside or m.root.startswith(inside + "/"):
            users.append(f"{m.mountpoint} (mount namespace {m.namespace})")
    return sorted(set(users))
