"""Job messages: levels, the `meta` bit layout and the `N::` / `N:::` output line protocol.

Pure: nothing here does I/O (spec core0-protocol §8, §9).
"""

from __future__ import annotations

import dataclasses
import re
import time
from typing import Any

STDOUT = 1
STDERR = 2
CRITICAL = 9
STATSD = 10
RESULT_JSON = 20
RESULT_LEVELS = frozenset({20, 21, 22, 23, 30})

FLAG_STREAM = 0x1
EXIT_SUCCESS = 0x2
EXIT_ERROR = 0x4
EXIT_FLAGS = EXIT_SUCCESS | EXIT_ERROR

MAX_LINE = 32 * 1024            # longer lines are cut into pieces of this size
MAX_MULTILINE = 256 * 1024       # a `N:::` message stops growing here (memory stays bounded)

_LINE = re.compile(r"^(\d+)(:{2,3})(.*)$", re.DOTALL)


@dataclasses.dataclass(frozen=True)
class Message:
    """One message of a job: a level, a body and the exit/stream flags."""

    level: int
    text: str
    flags: int = 0
    epoch: int = dataclasses.field(default_factory=time.time_ns)

    @property
    def meta(self) -> int:
        """`level << 16 | flags`: the 32-bit meta of the wire (the code part is never sent)."""
        return (self.level & 0xFFFF) << 16 | (self.flags & 0xFFFF)

    @property
    def is_exit(self) -> bool:
        return bool(self.flags & EXIT_FLAGS)

    def record(self, job_id: str, container: int = 0, stream: bool = True) -> dict[str, Any]:
        """The 0-core LogRecord of this message (§9)."""
        meta = self.meta | (FLAG_STREAM if stream else 0)
        return {"core": container, "command": job_id,
                "message": {"message": self.text, "epoch": self.epoch, "meta": meta}}


class LineParser:
    """Turns the lines of one pipe into messages, following the line protocol of §8.3.

    `N::text` is one message of level N; `N:::first` opens a multi-line message closed by a
    line that is exactly `:::`; anything else is a message of the pipe's level.
    """

    def __init__(self, default_level: int) -> None:
        self.default_level = default_level
        self._level = 0
        self._parts: list[str] | None = None
        self._size = 0

    def feed(self, line: str) -> Message | None:
        if self._parts is not None:
            if line == ":::":
                return self._close()
            if self._size < MAX_MULTILINE:
                self._parts.append(line)
                self._size += len(line) + 1
            return None
        match = _LINE.match(line)
        if match is None:
            return Message(self.default_level, line)
        level = int(match.group(1)) if len(match.group(1)) <= 5 else 0xFFFF
        if match.group(2) == ":::":
            self._level, self._parts, self._size = level, [], 0
            if match.group(3):
                self._parts.append(match.group(3))
                self._size = len(match.group(3))
            return None
        return Message(level, match.group(3))

    def flush(self) -> Message | None:
        """At end of output an unclosed multi-line message is delivered as it stands."""
        return self._close() if self._parts is not None else None

    def _close(self) -> Message:
        message = Message(self._level, "\n".join(self._parts or []))
        self._parts = None
        self._size = 0
        return message


def split_lines(buffer: bytearray, final: bool = False) -> list[str]:
    """Take the complete lines out of `buffer` (and the rest when `final`); cut long ones."""
    lines: list[str] = []
    while True:
        end = buffer.find(b"\n")
        if end < 0:
            if len(buffer) >= MAX_LINE or (final and buffer):
                take = min(len(buffer), MAX_LINE)
                lines.append(buffer[:take].decode("utf-8", "replace"))
                del buffer[:take]
                continue
            return lines
        take = min(end, MAX_LINE)
        lines.append(buffer[:take].decode("utf-8", "replace"))
        del buffer[:take + 1 if take == end else take]
