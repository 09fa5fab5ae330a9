"""RESP2 on the wire: an incremental request parser with hard limits, and reply encoders.

The parser never allocates for a length it was told, only for bytes it received: a header
announcing a 1 TB bulk string is refused at once (`ProtocolError`), as redis-server does with
`proto-max-bulk-len`.
"""

from __future__ import annotations

from collections.abc import Sequence
from .._errors import ProtocolError

CRLF = b"\r\n"
OK = b"+OK\r\n"
PONG = b"+PONG\r\n"
NIL = b"$-1\r\n"
NIL_ARRAY = b"*-1\r\n"
EMPTY_ARRAY = b"*0\r\n"
NULL3 = b"_\r\n"  # RESP3's one null, for both nil forms

MAX_BULK = 16 * 1024 * 1024        # one argument
MAX_ARGS = 1024 * 1024             # arguments in one request (redis-server's limit too)
MAX_REQUEST = 64 * 1024 * 1024     # all arguments of one request together
MAX_INLINE = 64 * 1024             # an inline (telnet-style) command line
_MAX_HEADER = 32                   # `*<count>` / `$<len>` lines never need more


def _length(raw: bytes | bytearray, what: str) -> int:
    """Parse the digits of a `*` or `$` header strictly (no spaces, `+` or `_` as int() allows)."""
    if raw.isdigit() and len(raw) < 19:
        return int(raw)
    body = raw[1:] if raw[:1] == b"-" else raw
    if not body or not body.isdigit() or len(raw) > 20:
        raise ProtocolError(f"invalid {what} length")
    return int(raw)


class RequestParser:
    """Feed bytes in, take requests out: each request is a list of byte-string arguments.

    Both forms Redis accepts are read: multibulk (`*2\\r\\n$4\\r\\nECHO\\r\\n...`) and inline
    (`PING\\r\\n`). A partly received request keeps its parsed arguments, so a request that
    arrives one byte at a time costs linear time.
    """

    __slots__ = ("_buf", "_args", "_want", "_size", "max_bulk", "max_request")

    def __init__(self, max_bulk: int = MAX_BULK, max_request: int = MAX_REQUEST) -> None:
        self._buf = bytearray()
        self._args: list[bytes] | None = None
        self._want = 0
        self._size = 0
        self.max_bulk = max_bulk
        self.max_request = max_request

    def feed(self, data: bytes) -> None:
        self._buf += data

    def buffered(self) -> int:
        """Bytes received and not yet returned as requests (partial requests included)."""
        return len(self._buf) + self._size

    def next(self) -> list[bytes] | None:
        """The next complete request, `[]` for an empty one, or None until more bytes arrive."""
        buf = self._buf
        pos = 0
        if self._args is None:
            if not buf:
                return None
            if buf[0] != 0x2A:  # '*'
                return self._inline()
            end = buf.find(CRLF, 0, _MAX_HEADER)
            if end < 0:
                if len(buf) >= _MAX_HEADER:
                    raise ProtocolError("invalid multibulk length")
                return None
            count = _length(buf[1:end], "multibulk")
            if count > MAX_ARGS:
                raise ProtocolError("invalid multibulk length")
            pos = end + 2
            if count <= 0:
                del buf[:pos]
                return []
            self._args, self._want, self._size = [], count, 0
        args = self._args
        try:
            while self._want:
                if pos >= len(buf):
                    return None
                if buf[pos] != 0x24:  # '$'
                    raise ProtocolError(f"expected '$', got '{chr(buf[pos])}'")
                end = buf.find(CRLF, pos, pos + _MAX_HEADER)
                if end < 0:
                    if len(buf) - pos >= _MAX_HEADER:
                        raise ProtocolError("invalid bulk length")
                    return None
                size = _length(buf[pos + 1:end], "bulk")
                if size < 0 or size > self.max_bulk or self._size + size > self.max_request:
                    raise ProtocolError("invalid bulk length")
                start = end + 2
                if len(buf) < start + size + 2:
                    return None
                if buf[start + size:start + size + 2] != CRLF:
                    raise ProtocolError("bulk string not terminated by CRLF")
                args.append(bytes(buf[start:start + size]))
                self._size += size
                pos = start + size + 2
                self._want -= 1
        finally:
            del buf[:pos]  # once per call: what was parsed is kept in self._args
        self._args, self._size = None, 0
        return args

    def _inline(self) -> list[bytes] | None:
        buf = self._buf
        end = buf.find(b"\n", 0, MAX_INLINE + 1)
        if end < 0:
            if len(buf) > MAX_INLINE:
                raise ProtocolError("too big inline request")
            return None
        line = bytes(buf[:end]).rstrip(b"\r")
        del buf[:end + 1]
        return line.split()


# -- replies ------------------------------------------------------------------------------
def simple(text: str) -> bytes:
    return b"+" + text.encode() + CRLF


def error(text: str) -> bytes:
    """An error reply; the text is sent as is (0-core's errors carry no `ERR` prefix)."""
    return b"-" + text.replace("\r", " ").replace("\n", " ").encode("utf-8", "replace") + CRLF


def integer(value: int) -> bytes:
    return b":%d\r\n" % value


def bulk(value: bytes | None) -> bytes:
    if value is None:
        return NIL
    return b"$%d\r\n%b\r\n" % (len(value), value)


def bulks(items: Sequence[bytes]) -> bytes:
    """An array of bulk strings (LRANGE, KEYS): the hot path, without per-item type checks."""
    return b"*%d\r\n" % len(items) + b"".join([b"$%d\r\n%b\r\n" % (len(v), v) for v in items])


def array(items: Sequence[bytes | int | None | Sequence] | None) -> bytes:
    """An array of bulk strings, integers, nils or nested arrays; None is the nil array."""
    if items is None:
        return NIL_ARRAY
    parts = [b"*%d\r\n" % len(items)]
    for item in items:
        if item is None or isinstance(item, (bytes, bytearray)):
            parts.append(bulk(item))
        elif isinstance(item, int):
            parts.append(integer(item))
        else:
            parts.append(array(item))
    return b"".join(parts)


def map_(flat: Sequence[bytes | int | None | Sequence]) -> bytes:
    """A RESP3 map from a flat key, value, key, value... list."""
    body = array(flat)
    return b"%%%d\r\n" % (len(flat) // 2) + body[body.index(CRLF) + 2:]


def command(*args: bytes | str | int | float) -> bytes:
    """Encode one request as a multibulk array (what a client sends)."""
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        raw = arg if isinstance(arg, bytes) else str(arg).encode()
        parts.append(b"$%d\r\n%b\r\n" % (len(raw), raw))
    return b"".join(parts)
