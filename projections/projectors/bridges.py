"""Bridges of every node, folded from the bridge.create / bridge.delete jobs that succeeded.

The arguments travel in `job.accepted`, the outcome in `job.finished`; the request is kept in
`bridge_requests` between the two so the fold needs nothing outside its own tables.
"""

from __future__ import annotations

from zos.events import Event

from .._projector import Projector, handles
from .._rows import Rows

ACTIONS = {"bridge.create": "create", "bridge.delete": "delete"}


class Bridges(Projector):
    name = "bridges"
    subjects = ("zos.evt.job.*",)
    tables = ("bridges", "bridge_requests")

    @handles("job.accepted")
    def accepted(self, rows: Rows, event: Event, seq: int) -> None:
        command = event.data["command"]
        action = ACTIONS.get(str(command.get("command")))
        if action is None or not isinstance(command.get("arguments"), dict):
            return
        rows.merge("bridge_requests", {"job": event.aggregate_id, "node": event.data["node"],
                                       "action": action, "arguments": command["arguments"],
                                       "updated_seq": seq})

    @handles("job.finished")
    def finished(self, rows: Rows, event: Event, seq: int) -> None:
        if event.data["result"].get("command") not in ACTIONS:
            return
        request = rows.get("bridge_requests", event.aggregate_id)
        if request is None:
            return
        rows.delete("bridge_requests", event.aggregate_id)
        args = request["arguments"] or {}
        name = str(args.get("name") or "")
        if event.data["result"].get("state") != "SUCCESS" or not name:
            return
        if request["action"] == "delete":
            rows.delete("bridges", request["node"], name)
            return
        network = args.get("network") or {}
        rows.merge("bridges", {
            "node": request["node"], "name": name, "hwaddr": str(args.get("hwaddr") or ""),
            "network_mode": str(network.get("mode") or "none"), "nat": bool(network.get("nat")),
            "setting": network.get("settings") or {}, "status": "up",
            "job": event.aggregate_id, "updated_seq": seq})
