"""The one msgpack codec: deterministic (sorted keys) so that replays compare byte for byte."""

from __future__ import annotations

from typing import Any

import msgpack
import msgspec

from ._envelope import Event
from ._errors import DecodeError, ValidationError
from ._registry import get_type

_ENVELOPE_KEYS = ("id", "type", "version", "aggregate", "aggregate_id", "time",
                  "causation_id", "correlation_id", "actor", "data")
_ENVELOPE_KEY_SET = frozenset(_ENVELOPE_KEYS)
_MAX_PAYLOAD = 64 * 1024 * 1024


def _sorted(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _sorted(value[k]) for k in sorted(value, key=str)}
    if isinstance(value, (list, tuple)):
        return [_sorted(v) for v in value]
    return value


_ENCODER = msgspec.msgpack.Encoder(order="sorted")


def encode_value(value: Any) -> bytes:
    """Encode any plain value deterministically (maps with sorted keys).

    msgspec writes the same bytes as msgpack-python on pre-sorted maps (smallest int and
    string forms, float64, bin for bytes), in C. Maps whose keys are not all strings (which
    msgspec refuses to sort together) take the pure-Python path.
    """
    try:
        return _ENCODER.encode(value)
    except (TypeError, msgspec.EncodeError):
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


def _envelope_dict(payload: bytes) -> dict[str, Any]:
    raw = decode_value(payload)
    if not isinstance(raw, dict):
        raise DecodeError(f"envelope must be a map, got {type(raw).__name__}")
    missing = [k for k in ("id", "type", "aggregate", "aggregate_id", "data") if k not in raw]
    if missing:
        raise DecodeError(f"envelope lacks {', '.join(missing)}")
    if len(raw) > len(_ENVELOPE_KEYS) or not raw.keys() <= _ENVELOPE_KEY_SET:
        unknown = [k for k in raw if k not in _ENVELOPE_KEY_SET]
        raise DecodeError(f"envelope has unknown keys {', '.join(map(str, unknown))}")
    for key in ("id", "type", "aggregate", "aggregate_id"):
        if type(raw[key]) is not str:
            raise DecodeError(f"envelope field '{key}' must be a string, got {type(raw[key]).__name__}")
    if type(raw["data"]) is not dict:
        raise DecodeError(f"envelope field 'data' must be a map, got {type(raw['data']).__name__}")
    version = raw.setdefault("version", 1)
    when = raw.setdefault("time", 0)
    if type(version) is not int or version < 1:
        raise DecodeError(f"envelope field 'version' must be a positive int, got {version!r}")
    if type(when) is not int:
        raise DecodeError(f"envelope field 'time' must be an int, got {when!r}")
    return raw


def _build(raw: dict[str, Any]) -> Event:
    return Event(raw["type"], raw["aggregate"], raw["aggregate_id"], raw["data"], raw["id"],
                 raw["version"], raw["time"], raw.get("causation_id"), raw.get("correlation_id"),
                 raw.get("actor"))


def decode_any(payload: bytes) -> Event:
    """Decode an envelope without upcasting or validating its data (for tools that show raw)."""
    return _build(_envelope_dict(payload))


def decode(payload: bytes) -> Event:
    """Decode an envelope and bring its data up to the type's current version.

    Unknown types decode as they are (a generic event): consumers skip them, never crash.
    """
    raw = _envelope_dict(payload)
    declared = get_type(raw["type"])
    if declared is None:
        return _build(raw)
    if raw["version"] > declared.version:
        raise DecodeError(f"event type '{raw['type']}' v{raw['version']} is newer than this code "
                          f"knows (v{declared.version})")
    if raw["version"] < declared.version:
        raw["data"] = declared.upcast(raw["version"], raw["data"])
        raw["version"] = declared.version
    try:
        declared.validate(raw["data"])
    except ValidationError as exc:
        raise DecodeError(f"event {raw['id']}: {exc}") from exc
    return _build(raw)
