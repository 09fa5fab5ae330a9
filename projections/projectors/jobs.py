"""Jobs of every node: the command, its runs and its 0-core result."""

from __future__ import annotations

from zos.events import FINAL_STATES, Event, JobResult

from .._projector import Projector, handles
from .._rows import Rows


class Jobs(Projector):
    name = "jobs"
    subjects = ("zos.evt.job.*",)
    tables = ("jobs",)

    @handles("job.accepted")
    def accepted(self, rows: Rows, event: Event, seq: int) -> None:
        command = event.data["command"]
        # Every column is given: a job is accepted once, and a full row needs no read later.
        rows.merge("jobs", {
            "id": event.aggregate_id, "node": event.data["node"],
            "command": str(command.get("command") or ""), "arguments": command.get("arguments"),
            "queue": str(command.get("queue") or ""), "tags": command.get("tags"),
            "state": "accepted", "pid": 0, "runs": 0, "starttime": 0, "duration": 0, "code": 0,
            "level": 0, "data": "", "stdout": "", "stderr": "", "accepted_at": event.time,
            "finished_at": 0, "updated_seq": seq})

    @handles("job.started")
    def started(self, rows: Rows, event: Event, seq: int) -> None:
        before = rows.get("jobs", event.aggregate_id)
        data = event.data
        # A run's start re-recorded after the job's end (a retried append) must not reopen it.
        finished = before is not None and before["state"] in FINAL_STATES
        rows.merge("jobs", {
            "id": event.aggregate_id, "node": data["node"], "command": data["command"],
            "state": before["state"] if finished else "running", "pid": data.get("pid") or 0,
            "starttime": data.get("starttime") or 0, "updated_seq": seq,
            "runs": (before["runs"] if before else 0) + 1})

    @handles("job.finished")
    def finished(self, rows: Rows, event: Event, seq: int) -> None:
        result = JobResult.from_wire(event.data["result"])
        rows.merge("jobs", {
            "id": event.aggregate_id, "node": event.data["node"], "command": result.command,
            "state": result.state, "code": result.code, "level": result.level, "data": result.data,
            "stdout": result.stdout, "stderr": result.stderr, "starttime": result.starttime,
            "duration": result.time, "finished_at": event.time, "updated_seq": seq})
