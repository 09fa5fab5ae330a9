"""The 0-core job result (spec core0-protocol §5): one type for the agent, the bridge, the
projections, the API and the command line.

Its wire form (`to_wire`, carried in `job.finished`; `to_json`, served as `result:<id>`) is
exactly upstream's, so the original 0-core client cannot tell. Two upstream quirks are kept:
`streams` is absent from an UNKNOWN_CMD answer, and the duplicate-id state is spelled
"DUPILICATE_ID" on the wire.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

SUCCESS = "SUCCESS"
ERROR = "ERROR"
TIMEOUT = "TIMEOUT"
KILLED = "KILLED"
UNKNOWN_CMD = "UNKNOWN_CMD"
DUPLICATE_ID = "DUPILICATE_ID"  # upstream's spelling on the wire: never correct it
RUNNING = "RUNNING"
FINAL_STATES = frozenset({SUCCESS, ERROR, TIMEOUT, KILLED, UNKNOWN_CMD, DUPLICATE_ID})

# The field order of upstream's result (spec §5.3); unknown fields follow.
WIRE_FIELDS = ("id", "command", "data", "streams", "critical", "level", "state", "code",
               "starttime", "time", "tags", "container")


@dataclasses.dataclass(frozen=True)
class JobResult:
    """How one job ended. `data` is text (JSON for builtins); `streams` is [stdout, stderr]
    or None when upstream sends none; `critical` is only on the wire when set."""

    id: str
    command: str
    state: str
    code: int = 0
    data: str = ""
    level: int = 0
    streams: list[str] | None = None
    starttime: int = 0
    time: int = 0
    tags: list[str] | None = None
    container: int = 0
    critical: str = ""
    extra: dict[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.state == SUCCESS

    @property
    def stdout(self) -> str:
        return (self.streams or ["", ""])[0] or ""

    @property
    def stderr(self) -> str:
        streams = self.streams or ["", ""]
        return (streams[1] if len(streams) > 1 else "") or ""

    def value(self) -> Any:
        """`data` decoded from JSON (builtins answer JSON text); the text itself otherwise."""
        if not self.data:
            return self.data
        try:
            return json.loads(self.data)
        except ValueError:
            return self.data

    def replace(self, **changes: Any) -> JobResult:
        return dataclasses.replace(self, **changes)

    def to_wire(self) -> dict[str, Any]:
        """The result object exactly as `job.finished` carries it."""
        wire: dict[str, Any] = {"id": self.id, "command": self.command, "data": self.data}
        if self.streams is not None:
            wire["streams"] = list(self.streams)
        if self.critical:
            wire["critical"] = self.critical
        wire.update(level=self.level, state=self.state, code=self.code,
                    starttime=self.starttime, time=self.time, tags=self.tags,
                    container=self.container)
        wire.update((k, v) for k, v in self.extra.items() if k not in wire)
        return wire

    def to_json(self) -> bytes:
        """Compact JSON in upstream's field order: what `result:<id>` holds."""
        return json.dumps(self.to_wire(), separators=(",", ":"), ensure_ascii=False).encode()

    @classmethod
    def from_wire(cls, raw: Any) -> JobResult:
        """A result read back from the log. Lenient: a field that is missing or of the wrong
        type gets its default (a missing code is 500: an outcome nobody recorded is an error),
        so one odd record never stops a reader."""
        if not isinstance(raw, dict):
            raw = {}
        fast = _well_typed(cls, raw)
        if fast is not None:
            return fast
        streams = raw.get("streams")
        tags = raw.get("tags")
        code = raw.get("code")
        return cls(
            id=_text(raw.get("id")), command=_text(raw.get("command")),
            state=_text(raw.get("state")) or ERROR,
            code=500 if code is None else _number(code),
            data=_text(raw.get("data")), level=_number(raw.get("level")),
            streams=[_text(s) for s in streams] if isinstance(streams, (list, tuple)) else None,
            starttime=_number(raw.get("starttime")), time=_number(raw.get("time")),
            tags=[_text(t) for t in tags] if isinstance(tags, (list, tuple)) else None,
            container=_number(raw.get("container")), critical=_text(raw.get("critical")),
            extra={k: v for k, v in raw.items() if k not in WIRE_FIELDS})


_WIRE_SET = frozenset(WIRE_FIELDS)


def _well_typed(cls: type[JobResult], raw: dict[str, Any]) -> JobResult | None:
    """The common case, a result the agent wrote, without field-by-field coercion (a
    projection replay reads one per job)."""
    get = raw.get
    ident, command, state, code, data = get("id"), get("command"), get("state"), get("code"), get("data")
    level, starttime, took, container = get("level"), get("starttime"), get("time"), get("container", 0)
    streams, tags, critical = get("streams"), get("tags"), get("critical", "")
    if not (type(ident) is str and type(command) is str and type(state) is str and state
            and type(code) is int and type(data) is str and type(level) is int
            and type(starttime) is int and type(took) is int and type(container) is int
            and type(critical) is str
            and (streams is None or (type(streams) is list
                                     and all(type(x) is str for x in streams)))
            and (tags is None or (type(tags) is list and all(type(x) is str for x in tags)))):
        return None
    extra = {} if raw.keys() <= _WIRE_SET else {k: v for k, v in raw.items() if k not in _WIRE_SET}
    return cls(id=ident, command=command, state=state, code=code, data=data, level=level,
               streams=streams, starttime=starttime, time=took, tags=tags, container=container,
               critical=critical, extra=extra)


def _text(value: Any) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else str(value)


def _number(value: Any) -> int:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0
