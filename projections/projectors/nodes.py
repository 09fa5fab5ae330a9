"""Nodes and their last reported hardware and OS facts."""

from __future__ import annotations

import json
from typing import Any

from zos.events import Event, JobResult

from .._projector import Projector, handles
from .._rows import Rows

# Builtin results that are snapshots of a node, and the `/nodes/{id}/<kind>` they feed.
SNAPSHOT_COMMANDS = {"info.cpu": "cpus", "info.mem": "mem", "info.nic": "nics",
                     "disk.list": "disks", "info.os": "info", "disk.mounts": "mounts",
                     "core.state": "state", "aggregator.query": "stats"}


def _ipaddress(nics: list[Any] | None) -> str:
    for nic in nics or []:
        if not isinstance(nic, dict) or nic.get("name") == "lo":
            continue
        for addr in nic.get("addrs") or []:
            text = addr.get("addr", "") if isinstance(addr, dict) else str(addr)
            ip = text.split("/")[0]
            if ip and ":" not in ip and not ip.startswith("127."):
                return ip
    return ""


class Nodes(Projector):
    name = "nodes"
    subjects = ("zos.evt.node.*", "zos.evt.job.*")
    tables = ("nodes", "node_snapshots")

    @handles("node.booted")
    def booted(self, rows: Rows, event: Event, seq: int) -> None:
        data = event.data
        node = data["node"]
        before = rows.get("nodes", node)
        info = data.get("info") or {}
        rows.merge("nodes", {
            "id": node, "hostname": data.get("hostname") or "", "status": "running",
            "ipaddress": str(info.get("ipaddress") or _ipaddress(data.get("nics"))),
            "version": data.get("version") or "", "kernel": data.get("kernel") or "",
            "cpus": data.get("cpus") or 0, "memory": data.get("memory") or 0,
            "bridge": data.get("bridge") or "", "booted_at": event.time, "updated_seq": seq,
            "boot_count": (before["boot_count"] if before else 0) + 1})
        for kind, value in (("disks", data.get("disks")), ("nics", data.get("nics")),
                            ("info", data.get("info"))):
            if value is not None:
                rows.merge("node_snapshots", {"node": node, "kind": kind, "data": value,
                                              "reported_at": event.time, "updated_seq": seq})

    @handles("node.stopped")
    def stopped(self, rows: Rows, event: Event, seq: int) -> None:
        if rows.get("nodes", event.data["node"]) is not None:
            rows.merge("nodes", {"id": event.data["node"], "status": "halted", "updated_seq": seq})

    @handles("job.finished")
    def snapshot(self, rows: Rows, event: Event, seq: int) -> None:
        raw = event.data["result"]
        if not isinstance(raw, dict) or raw.get("command") not in SNAPSHOT_COMMANDS:
            return  # most jobs: decided without decoding the result
        result = JobResult.from_wire(raw)
        kind = SNAPSHOT_COMMANDS.get(result.command)
        if kind is None or not result.ok:
            return
        try:
            value = json.loads(result.data or "null")
        except ValueError:
            return
        rows.merge("node_snapshots", {"node": event.data["node"], "kind": kind, "data": value,
                                      "reported_at": event.time, "updated_seq": seq})
