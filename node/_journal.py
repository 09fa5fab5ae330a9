"""The node-local journal: which jobs this agent accepted and has not finished yet.

Why a journal and not a replay: finding "accepted here, never finished" by replaying the log
means reading every job subject ever written; the journal is a few lines per live job. After a
kill -9 the next agent reads it and asks the log about each open job (one subject each): one
accepted but never ended gets `job.finished` ERROR and its leftover processes are killed (found
by the job marker in their environment); one whose `job.accepted` never reached the log is
accepted and run now, from the command kept here (the bus had already been told it was taken).

Lines are appended with O_APPEND, unbuffered: they survive a crash of the agent (the page cache
is the kernel's), not a power cut — a rebooted node starts clean, as 0-core did.
"""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path
from typing import Any


class Journal:
    """`accepted <id> <command>` and `finished <id>`, one JSON object per line."""

    def __init__(self, path: Path, compact_every: int = 10000) -> None:
        self.path = path
        self.compact_every = compact_every
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        self._open: dict[str, bytes] = read_open_jobs(path)
        self._lines = 0

    def _write(self, entry: dict[str, Any]) -> None:
        # One short write to the page cache: cheaper than a hop to a thread.
        os.write(self._fd, (json.dumps(entry, separators=(",", ":")) + "\n").encode())
        self._lines += 1

    def accepted(self, job_id: str, payload: bytes = b"") -> None:
        """Before acceptance is recorded on the bus; `payload` is the command message as it
        came, so a crash before the bus stored `job.accepted` loses nothing."""
        self._write({"op": "accepted", "id": job_id, "cmd": base64.b64encode(payload).decode()})
        self._open[job_id] = payload

    def finished(self, job_id: str) -> None:
        self._write({"op": "finished", "id": job_id})
        self._open.pop(job_id, None)
        if self._lines >= self.compact_every:  # a node runs for months: keep the file small
            self.compact(dict(self._open))

    def open_jobs(self) -> dict[str, bytes]:
        """Jobs accepted but not finished (id → command payload), in acceptance order."""
        return dict(self._open)

    def compact(self, still_open: dict[str, bytes]) -> None:
        """Rewrite the journal with only `still_open` (after recovery, and every
        `compact_every` lines; a rare write of a few KiB)."""
        self._open = dict(still_open)
        self._lines = len(still_open)
        tmp = self.path.with_suffix(".tmp")
        with open(tmp, "w") as out:
            for job_id, payload in still_open.items():
                out.write(json.dumps({"op": "accepted", "id": job_id,
                                      "cmd": base64.b64encode(payload).decode()}) + "\n")
        os.close(self._fd)
        os.replace(tmp, self.path)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)

    def close(self) -> None:
        os.close(self._fd)


def read_open_jobs(path: Path) -> dict[str, bytes]:
    open_jobs: dict[str, bytes] = {}
    try:
        text = path.read_text()
    except FileNotFoundError:
        return open_jobs
    for line in text.splitlines():
        try:
            entry = json.loads(line)
            op, job_id = entry["op"], entry["id"]
            payload = base64.b64decode(entry.get("cmd", ""))
        except (ValueError, KeyError, TypeError):
            continue  # a line torn by the crash
        if op == "accepted":
            open_jobs[job_id] = payload
        elif op == "finished":
            open_jobs.pop(job_id, None)
    return open_jobs
