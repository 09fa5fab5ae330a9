"""Storage pools, their filesystems and snapshots, folded from the node's storage events
(events/catalog/storagepool.py). A pool's rows cascade: deleting the pool deletes its
filesystems' and snapshots' rows, deleting a filesystem its snapshots' (the node deleted them)."""

from __future__ import annotations

from typing import Any

from zos.events import Event

from .._projector import Projector, handles
from .._rows import Rows

POOLS, FILESYSTEMS, SNAPSHOTS = "storagepools", "pool_filesystems", "pool_snapshots"


def _add(names: Any, name: str) -> list[str]:
    return sorted({*(names or []), name})


def _remove(names: Any, name: str) -> list[str]:
    return [n for n in names or [] if n != name]


class StoragePools(Projector):
    name = "storagepools"
    subjects = ("zos.evt.storagepool.*", "zos.evt.filesystem.*", "zos.evt.snapshot.*")
    tables = (POOLS, FILESYSTEMS, SNAPSHOTS)

    # -- pools ------------------------------------------------------------------------------
    @handles("storagepool.created")
    def created(self, rows: Rows, event: Event, seq: int) -> None:
        d = event.data
        self._drop_pool(rows, d["node"], d["name"])
        rows.merge(POOLS, {
            "node": d["node"], "name": d["name"], "uuid": d["uuid"], "label": d["label"],
            "mountpoint": d["mountpoint"], "metadata_profile": d["metadata_profile"],
            "data_profile": d["data_profile"],
            "devices": [{"device": x["device"], "uuid": x["uuid"]} for x in d["devices"]],
            "size": d["size"], "used": d.get("used") or 0, "status": "healthy", "error": "",
            "filesystems": [], "updated_seq": seq})

    def _patch_pool(self, rows: Rows, data: dict[str, Any], seq: int, **values: Any) -> dict[str, Any] | None:
        row = rows.get(POOLS, data["node"], data["name"])
        if row is not None:
            rows.merge(POOLS, {"node": data["node"], "name": data["name"], **values, "updated_seq": seq})
        return row

    @handles("storagepool.device_added")
    def device_added(self, rows: Rows, event: Event, seq: int) -> None:
        d = event.data
        row = rows.get(POOLS, d["node"], d["name"])
        if row is None:
            return
        known = {x["device"] for x in d["devices"]}
        devices = [x for x in row["devices"] or [] if x["device"] not in known]
        devices += [{"device": x["device"], "uuid": x["uuid"]} for x in d["devices"]]
        self._patch_pool(rows, d, seq, devices=devices, size=d.get("size") or row["size"])

    @handles("storagepool.device_removed")
    def device_removed(self, rows: Rows, event: Event, seq: int) -> None:
        d = event.data
        row = rows.get(POOLS, d["node"], d["name"])
        if row is None:
            return
        gone = {x["device"] for x in d["devices"]}
        self._patch_pool(rows, d, seq, devices=[x for x in row["devices"] or [] if x["device"] not in gone],
                         size=d.get("size") or row["size"])

    @handles("storagepool.mounted")
    def mounted(self, rows: Rows, event: Event, seq: int) -> None:
        self._patch_pool(rows, event.data, seq, status="healthy", error="",
                         mountpoint=event.data["mountpoint"])

    @handles("storagepool.missing")
    def missing(self, rows: Rows, event: Event, seq: int) -> None:
        self._patch_pool(rows, event.data, seq, status="error", error=event.data["reason"])

    @handles("storagepool.deleted")
    def deleted(self, rows: Rows, event: Event, seq: int) -> None:
        self._drop_pool(rows, event.data["node"], event.data["name"])

    def _drop_pool(self, rows: Rows, node: str, pool: str) -> None:
        row = rows.get(POOLS, node, pool)
        if row is None:
            return
        for fs in row["filesystems"] or []:
            self._drop_filesystem(rows, node, pool, fs)
        rows.delete(POOLS, node, pool)

    # -- filesystems ------------------------------------------------------------------------
    @handles("filesystem.created")
    def fs_created(self, rows: Rows, event: Event, seq: int) -> None:
        d = event.data
        pool = rows.get(POOLS, d["node"], d["pool"])
        if pool is None:
            return
        self._drop_filesystem(rows, d["node"], d["pool"], d["name"])
        rows.merge(FILESYSTEMS, {"node": d["node"], "pool": d["pool"], "name": d["name"], "path": d["path"],
                                 "quota": d["quota"], "read_only": bool(d.get("read_only")), "used": 0,
                                 "snapshots": [], "updated_seq": seq})
        rows.merge(POOLS, {"node": d["node"], "name": d["pool"],
                           "filesystems": _add(pool["filesystems"], d["name"]), "updated_seq": seq})

    @handles("filesystem.quota_set")
    def quota_set(self, rows: Rows, event: Event, seq: int) -> None:
        d = event.data
        row = rows.get(FILESYSTEMS, d["node"], d["pool"], d["name"])
        if row is not None:
            rows.merge(FILESYSTEMS, {"node": d["node"], "pool": d["pool"], "name": d["name"],
                                     "quota": d["quota"], "used": d.get("used") or row["used"],
                                     "updated_seq": seq})

    @handles("filesystem.deleted")
    def fs_deleted(self, rows: Rows, event: Event, seq: int) -> None:
        d = event.data
        self._drop_filesystem(rows, d["node"], d["pool"], d["name"])
        pool = rows.get(POOLS, d["node"], d["pool"])
        if pool is not None:
            rows.merge(POOLS, {"node": d["node"], "name": d["pool"],
                               "filesystems": _remove(pool["filesystems"], d["name"]), "updated_seq": seq})

    def _drop_filesystem(self, rows: Rows, node: str, pool: str, fs: str) -> None:
        row = rows.get(FILESYSTEMS, node, pool, fs)
        if row is None:
            return
        for snap in row["snapshots"] or []:
            rows.delete(SNAPSHOTS, node, pool, fs, snap)
        rows.delete(FILESYSTEMS, node, pool, fs)

    # -- snapshots --------------------------------------------------------------------------
    @handles("snapshot.created")
    def snap_created(self, rows: Rows, event: Event, seq: int) -> None:
        d = event.data
        fs = rows.get(FILESYSTEMS, d["node"], d["pool"], d["filesystem"])
        if fs is None:
            return
        rows.merge(SNAPSHOTS, {"node": d["node"], "pool": d["pool"], "filesystem": d["filesystem"],
                               "name": d["name"], "path": d["path"], "timestamp": d["timestamp"],
                               "used": d.get("used") or 0, "updated_seq": seq})
        rows.merge(FILESYSTEMS, {"node": d["node"], "pool": d["pool"], "name": d["filesystem"],
                                 "snapshots": _add(fs["snapshots"], d["name"]), "updated_seq": seq})

    @handles("snapshot.rolled_back")
    def rolled_back(self, rows: Rows, event: Event, seq: int) -> None:
        d = event.data
        snap = rows.get(SNAPSHOTS, d["node"], d["pool"], d["filesystem"], d["name"])
        if snap is not None and rows.get(FILESYSTEMS, d["node"], d["pool"], d["filesystem"]) is not None:
            # The filesystem now holds what the snapshot held.
            rows.merge(FILESYSTEMS, {"node": d["node"], "pool": d["pool"], "name": d["filesystem"],
                                     "used": snap["used"], "updated_seq": seq})

    @handles("snapshot.deleted")
    def snap_deleted(self, rows: Rows, event: Event, seq: int) -> None:
        d = event.data
        rows.delete(SNAPSHOTS, d["node"], d["pool"], d["filesystem"], d["name"])
        fs = rows.get(FILESYSTEMS, d["node"], d["pool"], d["filesystem"])
        if fs is not None:
            rows.merge(FILESYSTEMS, {"node": d["node"], "pool": d["pool"], "name": d["filesystem"],
                                     "snapshots": _remove(fs["snapshots"], d["name"]), "updated_seq": seq})
