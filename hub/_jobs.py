"""Progress of UI uploads, read back as server-sent events on `/listen/<jobid>` (spec §11.4)."""

from __future__ import annotations

import threading
import time
from typing import Any

_KEEP = 600.0


class Jobs:
    """Thread-safe: the conversion thread posts, the event stream reads by index."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._jobs: dict[str, tuple[float, list[dict[str, Any]]]] = {}

    def post(self, job_id: str | None, message: dict[str, Any]) -> None:
        if not job_id:
            return
        with self._lock:
            self._prune()
            created, messages = self._jobs.setdefault(job_id, (time.monotonic(), []))
            messages.append(message)

    def read(self, job_id: str, start: int) -> list[dict[str, Any]]:
        with self._lock:
            _, messages = self._jobs.setdefault(job_id, (time.monotonic(), []))
            return messages[start:]

    def _prune(self) -> None:
        now = time.monotonic()
        for job_id in [j for j, (created, _) in self._jobs.items() if now - created > _KEEP]:
            del self._jobs[job_id]
