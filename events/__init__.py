"""The event log's vocabulary: the envelope, declared types, upcasters and the one codec.

Pure: nothing here opens a socket. `zos.bus` carries what this package encodes.

    from zos.events import new_event, encode, decode
    evt = new_event("job.finished", "job", job_id, {"state": "SUCCESS", ...}, actor="node:n1")
    assert decode(encode(evt)) == evt
"""

from . import catalog as _catalog  # noqa: F401  (declares every known type on import)
from ._codec import decode, decode_any, encode, encode_value, decode_value
from ._envelope import Event, new_event, new_id, now_ns
from ._errors import DecodeError, EventError, UnknownFieldError, ValidationError
from ._result import (DUPLICATE_ID, ERROR, FINAL_STATES, KILLED, RUNNING, SUCCESS, TIMEOUT,
                      UNKNOWN_CMD, JobResult)
from ._registry import EventType, declare, get_type, known_types, upcaster
from .catalog.command import Command, command_from_event, command_to_event

__all__ = [
    "Command",
    "DUPLICATE_ID",
    "DecodeError",
    "ERROR",
    "Event",
    "EventError",
    "EventType",
    "FINAL_STATES",
    "JobResult",
    "KILLED",
    "RUNNING",
    "SUCCESS",
    "TIMEOUT",
    "UNKNOWN_CMD",
    "UnknownFieldError",
    "ValidationError",
    "command_from_event",
    "command_to_event",
    "declare",
    "decode",
    "decode_any",
    "decode_value",
    "encode",
    "encode_value",
    "get_type",
    "known_types",
    "new_event",
    "new_id",
    "now_ns",
    "upcaster",
]
