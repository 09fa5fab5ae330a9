"""Bridges of every node, folded from `bridge.created` / `bridge.deleted` (the agent's
bridge.create / bridge.delete record them once the kernel has the bridge, or no longer has it).

A bridge inside a network namespace of a node (the builtins' `namespace` argument) is listed
under node `<node>/<namespace>`: the table has no namespace column, and the API's
`/nodes/<node>/bridges` is about the node's own network only. `bridge_requests` is no longer
written (the table stays in the schema until a migration drops it).
"""

from __future__ import annotations

from typing import Any

from zos.bus import aggregate_filter
from zos.events import Event

from .._projector import Projector, handles
from .._rows import Rows


def bridge_node(data: dict[str, Any]) -> str:
    """The `node` column of a bridge: the node, or `<node>/<namespace>` inside a namespace."""
    namespace = data.get("namespace")
    return f"{data['node']}/{namespace}" if namespace else data["node"]


class Bridges(Projector):
    name = "bridges"
    subjects = (aggregate_filter("bridge"),)
    tables = ("bridges",)

    @handles("bridge.created")
    def created(self, rows: Rows, event: Event, seq: int) -> None:
        data = event.data
        rows.merge("bridges", {
            "node": bridge_node(data), "name": data["name"], "hwaddr": data["hwaddr"],
            "network_mode": data["mode"] or "none", "nat": data["nat"], "setting": data["settings"],
            "status": "up", "job": data.get("job") or "", "updated_seq": seq})

    @handles("bridge.deleted")
    def deleted(self, rows: Rows, event: Event, seq: int) -> None:
        rows.delete("bridges", bridge_node(event.data), event.data["name"])
