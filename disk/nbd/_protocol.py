"""Transmission-phase wire format: request parsing and checks, reply encoding (spec §4.5-§5.2).

Pure functions, no I/O, so they can be fuzzed: `parse_request` accepts any 28 bytes and
either returns a `Request` or raises `ProtocolViolation`; `check_request` maps every
recoverable mistake to the errno the client gets back.
"""

from __future__ import annotations

import dataclasses
import struct
from collections.abc import Sequence

from . import _constants as c
from ._errors import ProtocolViolation
from ._exports import ExportInfo

_ALLOWED_FLAGS = {
    c.CMD_READ: c.CMD_FLAG_FUA | c.CMD_FLAG_DF,
    c.CMD_WRITE: c.CMD_FLAG_FUA,
    c.CMD_DISC: c.CMD_FLAG_FUA,
    c.CMD_FLUSH: c.CMD_FLAG_FUA,
    c.CMD_TRIM: c.CMD_FLAG_FUA,
    c.CMD_CACHE: c.CMD_FLAG_FUA,
    c.CMD_WRITE_ZEROES: c.CMD_FLAG_FUA | c.CMD_FLAG_NO_HOLE | c.CMD_FLAG_FAST_ZERO,
    c.CMD_BLOCK_STATUS: c.CMD_FLAG_FUA | c.CMD_FLAG_REQ_ONE,
}
_WRITES = (c.CMD_WRITE, c.CMD_TRIM, c.CMD_WRITE_ZEROES)
_NEEDS_LENGTH = (c.CMD_READ, c.CMD_WRITE, c.CMD_TRIM, c.CMD_WRITE_ZEROES, c.CMD_BLOCK_STATUS)


@dataclasses.dataclass(frozen=True)
class Request:
    flags: int
    type: int
    cookie: int
    offset: int
    length: int

    @property
    def name(self) -> str:
        return c.COMMAND_NAMES.get(self.type, f"command {self.type}")

    @property
    def fua(self) -> bool:
        return bool(self.flags & c.CMD_FLAG_FUA)

    @property
    def payload_length(self) -> int:
        """Bytes of payload that follow the header on the wire."""
        return self.length if self.type == c.CMD_WRITE else 0


def parse_request(header: bytes) -> Request:
    if len(header) != c.REQUEST.size:
        raise ProtocolViolation(f"request header of {len(header)} bytes, expected {c.REQUEST.size}")
    magic, flags, kind, cookie, offset, length = c.REQUEST.unpack(header)
    if magic != c.REQUEST_MAGIC:
        raise ProtocolViolation(f"request magic 0x{magic:08x} is not 0x{c.REQUEST_MAGIC:08x}")
    request = Request(flags, kind, cookie, offset, length)
    if request.payload_length > c.MAX_WRITE_DRAIN:
        raise ProtocolViolation(f"WRITE of {length} bytes is beyond what can be drained")
    return request


def check_request(request: Request, export: ExportInfo, structured: bool, meta_context: bool) -> int:
    """0 when the request may run, else the errno to reply with (the connection stays)."""
    kind, flags, offset, length = request.type, request.flags, request.offset, request.length
    if kind not in _ALLOWED_FLAGS:
        return c.EINVAL
    allowed = _ALLOWED_FLAGS[kind]
    if not structured:
        allowed &= ~c.CMD_FLAG_DF
    if export.read_only:
        allowed &= ~c.CMD_FLAG_FAST_ZERO
    if flags & ~allowed:
        return c.EINVAL
    if kind in _NEEDS_LENGTH and length == 0:
        return c.EINVAL
    if length > c.MAX_REQUEST and kind in (c.CMD_READ, c.CMD_WRITE):
        return c.EOVERFLOW if flags & c.CMD_FLAG_DF else c.EINVAL
    if export.read_only and kind in _WRITES:
        return c.EPERM
    if kind in _NEEDS_LENGTH or kind == c.CMD_CACHE:
        if offset + length > export.size:
            return c.ENOSPC if kind in (c.CMD_WRITE, c.CMD_WRITE_ZEROES) else c.EINVAL
    if kind == c.CMD_BLOCK_STATUS and not meta_context:
        return c.EINVAL
    return 0


def simple_reply(cookie: int, error: int = 0) -> bytes:
    return c.SIMPLE_REPLY.pack(c.SIMPLE_REPLY_MAGIC, error, cookie)


def chunk_header(cookie: int, kind: int, length: int, done: bool) -> bytes:
    return c.CHUNK.pack(c.STRUCTURED_REPLY_MAGIC, c.REPLY_FLAG_DONE if done else 0, kind, cookie, length)


def error_chunk(cookie: int, error: int, message: str = "") -> bytes:
    text = message.encode()[:c.MAX_STRING]
    payload = struct.pack(">IH", error, len(text)) + text
    return chunk_header(cookie, c.REPLY_TYPE_ERROR, len(payload), True) + payload


def hole_chunk(cookie: int, offset: int, length: int, done: bool) -> bytes:
    return chunk_header(cookie, c.REPLY_TYPE_OFFSET_HOLE, 12, done) + struct.pack(">QI", offset, length)


def data_chunk_header(cookie: int, offset: int, length: int, done: bool) -> bytes:
    return chunk_header(cookie, c.REPLY_TYPE_OFFSET_DATA, 8 + length, done) + struct.pack(">Q", offset)


def block_status_chunk(cookie: int, context_id: int, extents: Sequence[tuple[int, int]]) -> bytes:
    payload = struct.pack(">I", context_id) + b"".join(struct.pack(">II", n, f) for n, f in extents)
    return chunk_header(cookie, c.REPLY_TYPE_BLOCK_STATUS, len(payload), True) + payload
