"""Flists as the hub's events describe them (repo = the hub user, name = the file)."""

from __future__ import annotations

from zos.events import Event

from .._projector import Projector, handles
from .._rows import Rows

LINK_TYPES = {"link": "symlink", "crosslink": "symlink", "crosstag": "taglink"}


class Flists(Projector):
    name = "flists"
    subjects = ("zos.evt.flist.*",)
    tables = ("flists",)

    @handles("flist.uploaded", "flist.merged", "flist.promoted")
    def stored(self, rows: Rows, event: Event, seq: int) -> None:
        data = event.data
        rows.delete("flists", data["user"], data["name"])  # a new file replaces a link or tag
        rows.merge("flists", {"repo": data["user"], "name": data["name"], "type": "regular",
                              "size": data["size"], "md5": data["md5"], "updated": event.time,
                              "updated_seq": seq})

    @handles("flist.renamed")
    def renamed(self, rows: Rows, event: Event, seq: int) -> None:
        data = event.data
        row = rows.get("flists", data["user"], data["name"])
        if row is None:
            return
        rows.delete("flists", data["user"], data["name"])
        rows.delete("flists", data["user"], data["new_name"])
        rows.merge("flists", {**row, "name": data["new_name"], "updated": event.time,
                              "updated_seq": seq})

    @handles("flist.linked")
    def linked(self, rows: Rows, event: Event, seq: int) -> None:
        data = event.data
        rows.delete("flists", data["user"], data["name"])
        rows.merge("flists", {"repo": data["user"], "name": data["name"],
                              "type": LINK_TYPES.get(data["kind"], "symlink"),
                              "target": f"{data['target_user']}/{data['target']}",
                              "updated": event.time, "updated_seq": seq})

    @handles("flist.tagged")
    def tagged(self, rows: Rows, event: Event, seq: int) -> None:
        data = event.data
        row = rows.get("flists", data["user"], data["tag"])
        members = dict((row or {}).get("members") or {}) if (row or {}).get("type") == "tag" else {}
        members[data["name"]] = f"{data['target_user']}/{data['target']}"
        rows.delete("flists", data["user"], data["tag"])
        rows.merge("flists", {"repo": data["user"], "name": data["tag"], "type": "tag",
                              "members": dict(sorted(members.items())), "updated": event.time,
                              "updated_seq": seq})

    @handles("flist.untagged")
    def untagged(self, rows: Rows, event: Event, seq: int) -> None:
        data = event.data
        row = rows.get("flists", data["user"], data["tag"])
        if row is None or row["type"] != "tag":
            return
        members = {k: v for k, v in (row["members"] or {}).items() if k != data["name"]}
        if not members:
            rows.delete("flists", data["user"], data["tag"])
            return
        rows.merge("flists", {"repo": data["user"], "name": data["tag"], "members": members,
                              "updated": event.time, "updated_seq": seq})

    @handles("flist.deleted")
    def deleted(self, rows: Rows, event: Event, seq: int) -> None:
        rows.delete("flists", event.data["user"], event.data["name"])
