"""The streams of the log, configured in one place and created idempotently."""

from __future__ import annotations

import dataclasses

from nats.js import JetStreamContext
from nats.js.api import DiscardPolicy, RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import NotFoundError

DAY = 24 * 3600.0


@dataclasses.dataclass(frozen=True)
class StreamSpec:
    name: str
    subjects: tuple[str, ...]
    doc: str
    max_age: float = 0.0          # seconds, 0 = keep
    max_bytes: int = -1
    duplicate_window: float = 120.0


STREAMS: tuple[StreamSpec, ...] = (
    StreamSpec("ZOS_EVENTS", ("zos.evt.>",), "every state change (domain events)"),
    StreamSpec("ZOS_COMMANDS", ("zos.cmd.>",), "every command sent to a node"),
    StreamSpec("ZOS_LOGS", ("zos.log.>",), "job output of streamed jobs, logger queues",
               max_age=1 * DAY),
    StreamSpec("ZOS_IO", ("zos.io.>",), "aggregated I/O statistics of fs, disk and nodes",
               max_age=7 * DAY, max_bytes=1 << 30),
    StreamSpec("ZOS_TLOG", ("zos.tlog.>",), "vdisk write-ahead log until compacted"),
    StreamSpec("ZOS_DLQ", ("zos.dlq.>",), "poison messages parked by consumers"),
)
STREAM_NAMES = tuple(s.name for s in STREAMS)


def stream_for_subject(subject: str) -> str:
    prefix = ".".join(subject.split(".")[:2]) + "."
    for spec in STREAMS:
        if any(s.startswith(prefix) for s in spec.subjects):
            return spec.name
    raise ValueError(f"subject '{subject}' belongs to no zos stream")


def _config(spec: StreamSpec, replicas: int) -> StreamConfig:
    return StreamConfig(
        name=spec.name, subjects=list(spec.subjects), description=spec.doc,
        retention=RetentionPolicy.LIMITS, storage=StorageType.FILE,
        max_age=spec.max_age or None, max_bytes=spec.max_bytes,
        discard=DiscardPolicy.OLD, num_replicas=replicas,
        duplicate_window=spec.duplicate_window, allow_direct=True,
    )


async def ensure_streams(js: JetStreamContext, replicas: int = 1) -> None:
    """Create each stream, or update it to the current settings; safe to run at every start."""
    for spec in STREAMS:
        config = _config(spec, replicas)
        try:
            await js.stream_info(spec.name)
        except NotFoundError:
            await js.add_stream(config)
        else:
            await js.update_stream(config)
