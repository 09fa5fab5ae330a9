"""Vdisks and storage clusters, folded from the disk part's events."""

from __future__ import annotations

from zos.events import Event

from .._projector import Projector, handles
from .._rows import Rows


class Vdisks(Projector):
    name = "vdisks"
    subjects = ("zos.evt.vdisk.*", "zos.evt.storagecluster.*")
    tables = ("vdisks", "storage_clusters")

    @handles("vdisk.created")
    def created(self, rows: Rows, event: Event, seq: int) -> None:
        d = event.data
        rows.delete("vdisks", d["name"])
        rows.merge("vdisks", {
            "name": d["name"], "size": d["size"], "block_size": d["block_size"], "type": d["type"],
            "storage": d["storage"], "read_only": bool(d.get("read_only")),
            "template": d.get("template") or "", "status": "halted", "node": d.get("node") or "",
            "server": d.get("server") or "", "updated_seq": seq})

    @handles("vdisk.deleted")
    def deleted(self, rows: Rows, event: Event, seq: int) -> None:
        rows.delete("vdisks", event.data["name"])

    def _patch(self, rows: Rows, name: str, seq: int, **values: object) -> None:
        if rows.get("vdisks", name) is not None:
            rows.merge("vdisks", {"name": name, **values, "updated_seq": seq})

    @handles("vdisk.resized")
    def resized(self, rows: Rows, event: Event, seq: int) -> None:
        self._patch(rows, event.data["name"], seq, size=event.data["size"])

    @handles("vdisk.attached")
    def attached(self, rows: Rows, event: Event, seq: int) -> None:
        self._patch(rows, event.data["name"], seq, status="running", server=event.data["server"])

    @handles("vdisk.detached")
    def detached(self, rows: Rows, event: Event, seq: int) -> None:
        self._patch(rows, event.data["name"], seq, status="halted")

    @handles("vdisk.error")
    def error(self, rows: Rows, event: Event, seq: int) -> None:
        self._patch(rows, event.data["name"], seq,
                    error=f"{event.data['status']}: {event.data['message']}")

    @handles("storagecluster.created", "storagecluster.updated")
    def cluster(self, rows: Rows, event: Event, seq: int) -> None:
        rows.merge("storage_clusters", {"label": event.data["label"],
                                        "servers": event.data["servers"], "updated_seq": seq})

    @handles("storagecluster.deleted")
    def cluster_deleted(self, rows: Rows, event: Event, seq: int) -> None:
        rows.delete("storage_clusters", event.data["label"])
