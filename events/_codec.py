"""The one msgpack codec: deterministic (sorted keys) so that replays compare byte for byte."""

from __future__ import annotations

from typing import Any

import msgpack

from ._envelope import Event
from ._errors import DecodeError, ValidationError
from ._registry import get_type

_ENVELOPE_KEYS = ("id", "type", "version", "aggregate", "aggregate_id", "time",
                  "causation_id", "correlation_id", "actor", "data")
_MAX_PAYLOAD = 64 * 1024 * 1024


def _sorted(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _sorted(value[k]) for k in sorted(value, key=str)}
    if isinstance(value, (list, tuple)):
        return [_sorted(v) for v in value]
    return value


def encode_value(value: Any) -> bytes:
    """Encode any plain value deterministically (maps with sorted keys)."""
    return msgpack.packb(_sorted(value), use_bin_type=True)


def decode_value(payload: bytes) -> Any:
    if len(payload) > _MAX_PAYLOAD:
        raise DecodeError(f"payload of {len(payload)} bytes exceeds {_MAX_PAYLOAD}")
    try:
        return msgpack.unpackb(payload, raw=False, strict_map_key=False)
    except (ValueError, TypeError, msgpack.UnpackException) as exc:
        # ExtraData/FormatError/StackError are ValueErrors; unhashable map keys are TypeErrors.
        raise DecodeError(f"payload of {len(payload)} bytes is not valid msgpack: {exc}") from exc


def encode(event: Event) -> bytes:
    return encode_value(event.to_dict())


def decode_any(payload: bytes) -> Event:
    """Decode an envelope without upcasting or validating its data (for tools that show raw)."""
    raw = decode_value(payload)
    if not isinstance(raw, dict):
        raise DecodeError(f"envelope must be a map, got {type(raw).__name__}")
    missing = [k for k in ("id", "type", "aggregate", "aggregate_id", "data") if k not in raw]
    if missing:
        raise DecodeError(f"envelope lacks {', '.join(missing)}")
    unknown = [k for k in raw if k not in _ENVELOPE_KEYS]
    if unknown:
        raise DecodeError(f"envelope has unknown keys {', '.join(map(str, unknown))}")
    for key in ("id", "type", "aggregate", "aggregate_id"):
        if not isinstance(raw[key], str):
            raise DecodeError(f"envelope field '{key}' must be a string, got {type(raw[key]).__name__}")
    if not isinstance(raw["data"], dict):
        raise DecodeError(f"envelope field 'data' must be a map, got {type(raw['data']).__name__}")
    version = raw.get("version", 1)
    when = raw.get("time", 0)
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise DecodeError(f"envelope field 'version' must be a positive int, got {version!r}")
    if not isinstance(when, int) or isinstance(when, bool):
        raise DecodeError(f"envelope field 'time' must be an int, got {when!r}")
    return Event(type=raw["type"], aggregate=raw["aggregate"], aggregate_id=raw["aggregate_id"],
                 data=raw["data"], id=raw["id"], version=version, time=when,
                 causation_id=raw.get("causation_id"), correlation_id=raw.get("correlation_id"),
                 actor=raw.get("actor"))


def decode(payload: bytes) -> Event:
    """Decode an envelope and bring its data up to the type's current version.

    Unknown types decode as they are (a generic event): consumers skip them, never crash.
    """
    event = decode_any(payload)
    declared = get_type(event.type)
    if declared is None:
        return event
    if event.version > declared.version:
        raise DecodeError(f"event type '{event.type}' v{event.version} is newer than this code "
                          f"knows (v{declared.version})")
    data = event.data
    if event.version < declared.version:
        data = declared.upcast(event.version, data)
    try:
        declared.validate(data)
    except ValidationError as exc:
        raise DecodeError(f"event {event.id}: {exc}") from exc
    return Event(type=event.type, aggregate=event.aggregate, aggregate_id=event.aggregate_id,
                 data=data, id=event.id, version=declared.version, time=event.time,
                 causation_id=event.causation_id, correlation_id=event.correlation_id,
                 actor=event.actor)
