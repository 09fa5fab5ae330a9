"""Bencoding (sorted byte-string keys), for the upstream snapshot header format."""

from __future__ import annotations

from typing import Any


def bencode(value: Any) -> bytes:
    if isinstance(value, bool):
        value = int(value)
    if isinstance(value, int):
        return b"i%de" % value
    if isinstance(value, str):
        value = value.encode()
    if isinstance(value, (bytes, bytearray)):
        return b"%d:%s" % (len(value), bytes(value))
    if isinstance(value, (list, tuple)):
        return b"l" + b"".join(bencode(v) for v in value) + b"e"
    if isinstance(value, dict):
        items = sorted((k.encode() if isinstance(k, str) else k, v) for k, v in value.items())
        return b"d" + b"".join(bencode(k) + bencode(v) for k, v in items) + b"e"
    raise TypeError(f"cannot bencode {type(value).__name__}")


class BdecodeError(ValueError):
    """The bytes are not a bencoded value."""


def bdecode(data: bytes) -> Any:
    value, end = _decode(data, 0)
    if end != len(data):
        raise BdecodeError(f"{len(data) - end} trailing bytes after the bencoded value")
    return value


def _decode(data: bytes, at: int) -> tuple[Any, int]:
    if at >= len(data):
        raise BdecodeError("bencoded value ends early")
    lead = data[at:at + 1]
    if lead == b"i":
        end = data.index(b"e", at)
        return int(data[at + 1:end]), end + 1
    if lead == b"l":
        at, out = at + 1, []
        while data[at:at + 1] != b"e":
            value, at = _decode(data, at)
            out.append(value)
        return out, at + 1
    if lead == b"d":
        at, result = at + 1, {}
        while data[at:at + 1] != b"e":
            key, at = _decode(data, at)
            value, at = _decode(data, at)
            result[key.decode() if isinstance(key, bytes) else key] = value
        return result, at + 1
    if lead.isdigit():
        colon = data.index(b":", at)
        n = int(data[at:colon])
        if colon + 1 + n > len(data):
            raise BdecodeError("bencoded string runs past the end")
        return data[colon + 1:colon + 1 + n], colon + 1 + n
    raise BdecodeError(f"unexpected byte {lead!r} at {at}")
