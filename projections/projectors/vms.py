"""VMs, folded from the node agents' `vm.*` events. `status` is the orchestrator's
EnumVMStatus, `state` the node's own word for it."""

from __future__ import annotations

from zos.events import Event

from .._projector import Projector, handles
from .._rows import Rows

# kvm state -> RAML EnumVMStatus
STATUS = {"running": "running", "paused": "paused", "pmsuspended": "paused", "shutdown": "halting",
          "shutoff": "halted", "crashed": "error", "blocked": "error", "nostate": "error"}


class Vms(Projector):
    name = "vms"
    subjects = ("zos.evt.vm.*",)
    tables = ("vms",)

    @handles("vm.created")
    def created(self, rows: Rows, event: Event, seq: int) -> None:
        d = event.data
        rows.delete("vms", d["uuid"])
        rows.merge("vms", {"uuid": d["uuid"], "name": d["name"], "node": d["node"], "status": "running",
                           "state": "running", "cpu": d["cpu"], "memory": d["memory"],
                           "media": list(d["media"]), "nics": list(d.get("nics") or []),
                           "accel": d.get("accel") or "", "updated_seq": seq})

    def _patch(self, rows: Rows, uuid: str, seq: int, **values: object) -> dict | None:
        row = rows.get("vms", uuid)
        if row is not None:
            rows.merge("vms", {"uuid": uuid, **values, "updated_seq": seq})
        return row

    @handles("vm.state_changed", "vm.adopted")
    def state(self, rows: Rows, event: Event, seq: int) -> None:
        state = event.data["state"]
        self._patch(rows, event.data["uuid"], seq, state=state, status=STATUS.get(state, "error"),
                    node=event.data["node"])

    @handles("vm.destroyed")
    def destroyed(self, rows: Rows, event: Event, seq: int) -> None:
        row = rows.get("vms", event.data["uuid"])
        if row is not None and row["node"] == event.data["node"]:  # not the source of a migration
            rows.delete("vms", event.data["uuid"])

    @handles("vm.disk_attached")
    def disk_attached(self, rows: Rows, event: Event, seq: int) -> None:
        row = rows.get("vms", event.data["uuid"])
        if row is not None:
            self._patch(rows, row["uuid"], seq, media=[*(row["media"] or []), event.data["media"]])

    @handles("vm.disk_detached")
    def disk_detached(self, rows: Rows, event: Event, seq: int) -> None:
        row = rows.get("vms", event.data["uuid"])
        if row is not None:
            url = event.data["media"]["url"]
            self._patch(rows, row["uuid"], seq, media=[m for m in row["media"] or [] if m["url"] != url])

    @handles("vm.nic_added")
    def nic_added(self, rows: Rows, event: Event, seq: int) -> None:
        row = rows.get("vms", event.data["uuid"])
        if row is not None:
            self._patch(rows, row["uuid"], seq, nics=[*(row["nics"] or []), event.data["nic"]])

    @handles("vm.nic_removed")
    def nic_removed(self, rows: Rows, event: Event, seq: int) -> None:
        row = rows.get("vms", event.data["uuid"])
        if row is not None:
            gone = event.data["nic"]
            self._patch(rows, row["uuid"], seq, nics=[n for n in row["nics"] or [] if n != gone])

    @handles("vm.migrated")
    def migrated(self, rows: Rows, event: Event, seq: int) -> None:
        self._patch(rows, event.data["uuid"], seq, node=event.data["target"], status="running",
                    state="running")
