"""How each kind of job builds its 0-core result (spec core0-protocol §5).

Pure: takes values, returns the `JobResult` (declared once in `zos.events`) that
`job.finished` carries and the bridge serves as `result:<id>`.
"""

from __future__ import annotations

import collections
import json
from typing import Any

from zos.events import ERROR, KILLED, SUCCESS, TIMEOUT, UNKNOWN_CMD, Command, JobResult

from ._messages import CRITICAL, EXIT_ERROR, EXIT_SUCCESS, RESULT_LEVELS, STDERR, STDOUT, Message

__all__ = ["ERROR", "KILLED", "SUCCESS", "TIMEOUT", "UNKNOWN_CMD", "Capture", "builtin_error",
           "builtin_result", "process_outcome", "rejected", "spawn_failure", "unknown_command"]

CODE_SIGNAL = 999
CODE_EXIT_BASE = 1000
CAPTURE_LINES = 100


def _base(cmd: Command, state: str, code: int, starttime: int, duration: int,
          **fields: Any) -> JobResult:
    return JobResult(id=cmd.id, command=cmd.command, state=state, code=code, starttime=starttime,
                     time=duration, tags=cmd.tags, **fields)


def builtin_result(cmd: Command, value: Any, starttime: int, duration: int) -> JobResult:
    """Builtin success: data is the JSON text of the value, level 20."""
    return _base(cmd, SUCCESS, 0, starttime, duration, data=json.dumps(value), level=20,
                 streams=["", ""])


def builtin_error(cmd: Command, message: str, code: int, starttime: int, duration: int,
                  state: str = ERROR, critical: str = "") -> JobResult:
    """Builtin failure: data is the error text as a quoted JSON string (Q34)."""
    return _base(cmd, state, code, starttime, duration, data=json.dumps(message), level=20,
                 streams=["", ""], critical=critical)


def unknown_command(cmd: Command) -> JobResult:
    """Exactly 0-core's answer to an unregistered name: code 0, no streams, starttime 0 (Q13)."""
    return _base(cmd, UNKNOWN_CMD, 0, 0, 0)


def spawn_failure(cmd: Command, message: str, starttime: int) -> JobResult:
    return _base(cmd, ERROR, 404, starttime, 0, data=message)


def rejected(cmd: Command, message: str) -> JobResult:
    """A command whose fields or arguments are unusable: ERROR 400 naming the field."""
    return _base(cmd, ERROR, 400, 0, 0, data=json.dumps(message), level=20, streams=["", ""])


CAPTURE_BYTES = 192 * 1024  # per stream: the result must fit one bus message (1 MiB by default)
DATA_BYTES = 256 * 1024


class _Tail:
    """The last 100 lines of a pipe, and never more than CAPTURE_BYTES of them."""

    def __init__(self) -> None:
        self.lines: collections.deque[str] = collections.deque()
        self.size = 0

    def append(self, line: str) -> None:
        self.lines.append(line)
        self.size += len(line) + 1
        while len(self.lines) > CAPTURE_LINES or (self.size > CAPTURE_BYTES and len(self.lines) > 1):
            self.size -= len(self.lines.popleft()) + 1
        if self.size > CAPTURE_BYTES:  # one line alone too big: keep its end
            self.lines[0] = self.lines[0][-CAPTURE_BYTES:]
            self.size = len(self.lines[0]) + 1

    def text(self) -> str:
        return "\n".join(self.lines)


class Capture:
    """What a process run leaves in its result: last 100 stdout and stderr messages, the last
    result-level message and the last critical one (§7, §8.4). Bounded in bytes too, so that
    `job.finished` always fits on the bus whatever the process printed."""

    def __init__(self) -> None:
        self.stdout = _Tail()
        self.stderr = _Tail()
        self.level = 0
        self.data = ""
        self.critical = ""

    def add(self, message: Message) -> None:
        if message.level == STDOUT:
            self.stdout.append(message.text)
        elif message.level == STDERR:
            self.stderr.append(message.text)
        elif message.level in RESULT_LEVELS:
            self.level, self.data = message.level, message.text[:DATA_BYTES]
        elif message.level == CRITICAL:
            self.critical = message.text[:DATA_BYTES]

    def exit_message(self, success: bool) -> Message:
        """The empty message every process run ends with; it gives the trailing newline."""
        message = Message(STDOUT, "", EXIT_SUCCESS) if success else Message(STDERR, "", EXIT_ERROR)
        self.add(message)
        return message

    def result(self, cmd: Command, state: str, code: int, starttime: int,
               duration: int) -> JobResult:
        return _base(cmd, state, code, starttime, duration, data=self.data, level=self.level,
                     streams=[self.stdout.text(), self.stderr.text()], critical=self.critical)


def process_outcome(returncode: int, timed_out: bool) -> tuple[str, int]:
    """State and code of a finished process: 0 ⇒ SUCCESS, N ⇒ 1000+N, a signal ⇒ 999."""
    if timed_out:
        return TIMEOUT, CODE_SIGNAL
    if returncode == 0:
        return SUCCESS, 0
    if returncode < 0:
        return ERROR, CODE_SIGNAL
    return ERROR, CODE_EXIT_BASE + returncode
