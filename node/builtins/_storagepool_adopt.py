"""Finding a node's storage pools again when its agent starts (after an agent restart or a
reboot): the log says which pools exist on this node; each one the disks still hold whole is
mounted again (`storagepool.mounted`), each one they do not is reported
(`storagepool.missing`). Nothing is guessed: a pool is never recreated, a degraded one is not
mounted, a btrfs the log does not name is left alone."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

from zos.bus import aggregate_filter

from . import _btrfs_ops as ops
from ._registry import BuiltinError
from ._storagepool_layout import Pool, pool_id
from ._sys_run import run_tool

log = logging.getLogger("zos.node.storagepool")


def fold_pools(events: list[Any], node: str) -> dict[str, dict[str, Any]]:
    """`{pool name: {uuid, devices}}` of the pools the events say exist on `node` now."""
    pools: dict[str, dict[str, Any]] = {}
    for event in events:
        data = event.data
        if data.get("node") != node:
            continue
        name = data.get("name")
        if event.type == "storagepool.created":
            pools[name] = {"uuid": data["uuid"], "devices": [d["device"] for d in data["devices"]]}
        elif event.type == "storagepool.deleted":
            pools.pop(name, None)
        elif name in pools and event.type == "storagepool.device_added":
            pools[name]["devices"] += [d["device"] for d in data["devices"]]
        elif name in pools and event.type == "storagepool.device_removed":
            gone = {d["device"] for d in data["devices"]}
            pools[name]["devices"] = [d for d in pools[name]["devices"] if d not in gone]
    return pools


def mount_again(root: Path, name: str, uuid: str) -> tuple[str, str]:
    """("mounted" | "present" | "missing", detail) for one pool the log says exists."""
    pool = Pool(root, name)
    if ops.is_btrfs_mount(str(pool.mountpoint)):
        [fs] = ops.show(str(pool.mountpoint))
        if fs["uuid"] == uuid:
            return "present", str(pool.mountpoint)
        return "missing", f"{pool.mountpoint} holds another btrfs ({fs['uuid']}), not the pool's {uuid}"
    try:  # without udev nobody told the kernel which devices form which btrfs
        run_tool(["btrfs", "device", "scan"])
    except BuiltinError as exc:
        log.warning("btrfs device scan failed: %s", exc.message)
    found = [fs for fs in ops.show() if fs["uuid"] == uuid]
    if not found:
        return "missing", f"no btrfs with uuid {uuid} on this node's disks"
    fs = found[0]
    missing = [d for d in fs["devices"] if d.get("missing") or not d["path"]]
    if missing or fs.get("missing") or len(fs["devices"]) < fs["total_devices"]:
        return "missing", (f"btrfs {uuid} has {fs['total_devices']} devices but only "
                           f"{len(fs['devices']) - len(missing)} are present: not mounted degraded")
    devices = [d["path"] for d in fs["devices"]]
    pool.mountpoint.mkdir(parents=True, exist_ok=True)
    try:
        run_tool(["mount", "-t", "btrfs", "-o", ",".join(f"device={d}" for d in devices),
                  devices[0], str(pool.mountpoint)])
    except BuiltinError as exc:
        return "missing", f"mounting {devices[0]} at {pool.mountpoint} failed: {exc.message}"
    return "mounted", str(pool.mountpoint)


async def adopt_pools(agent: Any) -> None:
    events = [item.event async for item in agent.bus.replay(aggregate_filter("storagepool"))
              if item.event is not None]
    pools = fold_pools(events, agent.node_id)
    root = Path(getattr(agent.config, "storagepool_root", None) or "/mnt/storagepools")
    for name, known in sorted(pools.items()):
        try:
            outcome, detail = await asyncio.to_thread(mount_again, root, name, known["uuid"])
        except BuiltinError as exc:
            outcome, detail = "missing", exc.message
        log.info("storage pool %s: %s (%s)", name, outcome, detail)
        if outcome == "mounted":
            await agent.record("storagepool.mounted", "storagepool", pool_id(agent.node_id, name),
                               {"node": agent.node_id, "name": name, "uuid": known["uuid"],
                                "mountpoint": detail})
        elif outcome == "missing":
            await agent.record("storagepool.missing", "storagepool", pool_id(agent.node_id, name),
                               {"node": agent.node_id, "name": name, "uuid": known["uuid"],
                                "reason": detail})
