"""A small raw NBD client for tests that must send what real clients never would."""

from __future__ import annotations

import socket
import struct

from zos.disk.nbd import constants as c


class RawNBD:
    def __init__(self, path: str, timeout: float = 30.0) -> None:
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.settimeout(timeout)
        self.sock.connect(path)
        self.structured = False
        self.cookie = 0

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> RawNBD:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def recv(self, n: int) -> bytes:
        out = b""
        while len(out) < n:
            part = self.sock.recv(n - len(out))
            if not part:
                raise ConnectionError(f"server closed after {len(out)} of {n} bytes")
            out += part
        return out

    def closed_by_server(self) -> bool:
        """True when the server hung up (recv returns EOF)."""
        try:
            return self.sock.recv(1) == b""
        except ConnectionResetError:
            return True

    # -- negotiation -------------------------------------------------------------------------
    def greeting(self, flags: int = c.FLAG_C_FIXED_NEWSTYLE | c.FLAG_C_NO_ZEROES) -> int:
        magic, opt, hflags = c.GREETING.unpack(self.recv(18))
        assert magic == c.NBDMAGIC and opt == c.IHAVEOPT
        self.sock.sendall(struct.pack(">I", flags))
        return hflags

    def option(self, option: int, data: bytes = b"") -> None:
        self.sock.sendall(c.OPTION_HEADER.pack(c.IHAVEOPT, option, len(data)) + data)

    def option_reply(self) -> tuple[int, int, bytes]:
        magic, option, reply, length = c.OPTION_REPLY.unpack(self.recv(20))
        assert magic == c.OPTION_REPLY_MAGIC
        return option, reply, self.recv(length)

    def option_replies(self) -> list[tuple[int, bytes]]:
        """Replies of one option up to and including its final one."""
        out = []
        while True:
            _, reply, data = self.option_reply()
            out.append((reply, data))
            if reply == c.REP_ACK or reply & 0x80000000:
                return out

    def go(self, export: str, structured: bool = True, meta: bool = True) -> tuple[int, int]:
        self.greeting()
        if structured:
            self.option(c.OPT_STRUCTURED_REPLY)
            assert self.option_replies()[-1][0] == c.REP_ACK
            self.structured = True
            if meta:
                name = export.encode()
                query = c.BASE_ALLOCATION.encode()
                self.option(c.OPT_SET_META_CONTEXT, struct.pack(">I", len(name)) + name
                            + struct.pack(">II", 1, len(query)) + query)
                assert self.option_replies()[-1][0] == c.REP_ACK
        name = export.encode()
        self.option(c.OPT_GO, struct.pack(">I", len(name)) + name + struct.pack(">H", 0))
        size = flags = None
        for reply, data in self.option_replies():
            if reply == c.REP_INFO and struct.unpack(">H", data[:2])[0] == c.INFO_EXPORT:
                _, size, flags = struct.unpack(">HQH", data)
            elif reply != c.REP_ACK and reply != c.REP_INFO:
                raise RuntimeError(f"GO failed with reply 0x{reply:x}: {data!r}")
        return size, flags

    def list_exports(self) -> list[str]:
        self.greeting()
        self.option(c.OPT_LIST)
        names = [data[4:].decode() for reply, data in self.option_replies() if reply == c.REP_SERVER]
        self.option(c.OPT_ABORT)
        return names

    # -- transmission ------------------------------------------------------------------------
    def send(self, kind: int, offset: int = 0, length: int = 0, flags: int = 0,
             payload: bytes = b"", magic: int = c.REQUEST_MAGIC) -> int:
        self.cookie += 1
        self.sock.sendall(c.REQUEST.pack(magic, flags, kind, self.cookie, offset, length) + payload)
        return self.cookie

    def reply(self, read_length: int = 0) -> tuple[int, int, bytes]:
        """(cookie, error, data) of one complete reply; structured chunks are gathered."""
        (magic,) = struct.unpack(">I", self.recv(4))
        if magic == c.SIMPLE_REPLY_MAGIC:
            error, cookie = struct.unpack(">IQ", self.recv(12))
            data = self.recv(read_length) if not error and read_length else b""
            return cookie, error, data
        assert magic == c.STRUCTURED_REPLY_MAGIC, hex(magic)
        data, error = b"", 0
        while True:
            flags, kind, cookie, length = struct.unpack(">HHQI", self.recv(16))
            payload = self.recv(length)
            if kind == c.REPLY_TYPE_OFFSET_DATA:
                data += payload[8:]
            elif kind == c.REPLY_TYPE_OFFSET_HOLE:
                data += bytes(struct.unpack(">QI", payload)[1])
            elif kind == c.REPLY_TYPE_BLOCK_STATUS:
                data += payload
            elif kind & 0x8000:
                error = struct.unpack(">I", payload[:4])[0]
            if flags & c.REPLY_FLAG_DONE:
                return cookie, error, data
            (magic,) = struct.unpack(">I", self.recv(4))
            assert magic == c.STRUCTURED_REPLY_MAGIC
