"""Fixed-newstyle negotiation (spec §5.1): greeting, options, and the way into transmission.

Every option gets its final reply before the next one is read. Anything the spec lets us
refuse gets an error reply; only what cannot be answered (bad magic, unknown client flags,
absurd lengths, EXPORT_NAME of an unknown export) ends the connection.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import struct
from typing import Any

from . import _constants as c
from ._errors import ClientGone, ProtocolViolation
from ._exports import ExportInfo, Exports

log = logging.getLogger("zos.disk.nbd")


@dataclasses.dataclass
class Negotiated:
    """The outcome of a handshake that entered transmission."""

    export: ExportInfo
    structured: bool
    meta_context: bool          # base:allocation selected
    device: Any = None          # opened before the final reply; the caller releases it


def transmission_flags(export: ExportInfo, structured: bool) -> int:
    flags = c.TFLAG_HAS_FLAGS | c.TFLAG_SEND_FLUSH | c.TFLAG_SEND_FUA | c.TFLAG_SEND_CACHE
    if export.read_only:
        flags |= c.TFLAG_READ_ONLY
    else:
        flags |= c.TFLAG_SEND_TRIM | c.TFLAG_SEND_WRITE_ZEROES | c.TFLAG_SEND_FAST_ZERO
    if structured:
        flags |= c.TFLAG_SEND_DF
    if export.multi_conn:
        flags |= c.TFLAG_CAN_MULTI_CONN
    return flags


class _Invalid(Exception):
    """Option data that does not parse: reply ERR_INVALID."""


def _string(data: bytes, at: int) -> tuple[str, int]:
    if at + 4 > len(data):
        raise _Invalid("string length runs past the option data")
    (n,) = struct.unpack_from(">I", data, at)
    at += 4
    if n > c.MAX_STRING or at + n > len(data):
        raise _Invalid(f"string of {n} bytes runs past the option data")
    try:
        return data[at:at + n].decode("utf-8"), at + n
    except UnicodeDecodeError:
        raise _Invalid("string is not UTF-8") from None


class Handshake:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                 exports: Exports, shutting_down: asyncio.Event | None = None) -> None:
        self.reader = reader
        self.writer = writer
        self.exports = exports
        self.shutting_down = shutting_down or asyncio.Event()
        self.structured = False
        self.meta_export: str | None = None   # export the base:allocation selection is for
        self.no_zeroes = False

    async def _read(self, n: int) -> bytes:
        try:
            return await self.reader.readexactly(n)
        except asyncio.IncompleteReadError as exc:
            raise ClientGone(f"client closed during negotiation after {len(exc.partial)} of {n} bytes") from None

    async def _reply(self, option: int, reply: int, data: bytes = b"") -> None:
        self.writer.write(c.OPTION_REPLY.pack(c.OPTION_REPLY_MAGIC, option, reply, len(data)) + data)
        await self.writer.drain()

    async def _error(self, option: int, reply: int, message: str) -> None:
        await self._reply(option, reply, message.encode()[:c.MAX_STRING])

    async def run(self) -> Negotiated | None:
        """Negotiate; returns how to transmit, or None when the client aborted cleanly."""
        async with asyncio.timeout(c.NEGOTIATION_TIMEOUT):
            return await self._negotiate()

    async def _negotiate(self) -> Negotiated | None:
        self.writer.write(c.GREETING.pack(c.NBDMAGIC, c.IHAVEOPT, c.FLAG_FIXED_NEWSTYLE | c.FLAG_NO_ZEROES))
        await self.writer.drain()
        (client_flags,) = struct.unpack(">I", await self._read(4))
        if client_flags & ~(c.FLAG_C_FIXED_NEWSTYLE | c.FLAG_C_NO_ZEROES):
            raise ProtocolViolation(f"unknown client flags 0x{client_flags:x}")
        if not client_flags & c.FLAG_C_FIXED_NEWSTYLE:
            raise ProtocolViolation("client does not speak fixed newstyle")
        self.no_zeroes = bool(client_flags & c.FLAG_C_NO_ZEROES)
        while True:
            magic, option, length = c.OPTION_HEADER.unpack(await self._read(16))
            if magic != c.IHAVEOPT:
                raise ProtocolViolation(f"option magic 0x{magic:x} is not IHAVEOPT")
            if length > c.MAX_OPTION_DATA:
                if length > c.MAX_OPTION_DRAIN:
                    raise ProtocolViolation(f"option {option} data of {length} bytes")
                await self._read(length)
                await self._error(option, c.REP_ERR_TOO_BIG, f"option data of {length} bytes is too big")
                continue
            data = await self._read(length)
            if option == c.OPT_ABORT:
                try:
                    await self._reply(option, c.REP_ACK)
                except (ConnectionError, OSError):
                    pass  # the client may close first; that is allowed
                return None
            if self.shutting_down.is_set():
                if option == c.OPT_EXPORT_NAME:
                    raise ClientGone("server shutting down")
                await self._error(option, c.REP_ERR_SHUTDOWN, "server is shutting down")
                continue
            try:
                done = await self._option(option, data)
            except _Invalid as exc:
                await self._error(option, c.REP_ERR_INVALID, str(exc))
                continue
            if done is not None:
                return done

    async def _option(self, option: int, data: bytes) -> Negotiated | None:
        if option == c.OPT_EXPORT_NAME:
            name = data.decode("utf-8", "replace")
            export = self.exports.info(name)
            if export is None:
                raise ProtocolViolation(f"EXPORT_NAME of unknown export '{name}'")
            try:
                device = await self.exports.open(name)
            except Exception as exc:  # this option has no error reply: hang up
                raise ProtocolViolation(f"export '{name}' cannot be opened: {exc}") from exc
            done = self._done(export, device)
            flags = transmission_flags(export, self.structured)
            self.writer.write(struct.pack(">QH", export.size, flags)
                              + (b"" if self.no_zeroes else bytes(124)))
            await self._release_on_error(done, self.writer.drain())
            return done
        if option == c.OPT_LIST:
            if data:
                raise _Invalid("LIST takes no data")
            for name in self.exports.names():
                raw = name.encode()
                await self._reply(option, c.REP_SERVER, struct.pack(">I", len(raw)) + raw)
            await self._reply(option, c.REP_ACK)
            return None
        if option in (c.OPT_INFO, c.OPT_GO):
            return await self._info(option, data)
        if option == c.OPT_STRUCTURED_REPLY:
            if data:
                raise _Invalid("STRUCTURED_REPLY takes no data")
            if self.structured:
                raise _Invalid("structured replies are already negotiated")
            self.structured = True
            await self._reply(option, c.REP_ACK)
            return None
        if option in (c.OPT_LIST_META_CONTEXT, c.OPT_SET_META_CONTEXT):
            await self._meta_context(option, data)
            return None
        if option == c.OPT_STARTTLS:
            await self._error(option, c.REP_ERR_UNSUP, "TLS is not supported")
            return None
        await self._error(option, c.REP_ERR_UNSUP, f"option {option} is not supported")
        return None

    def _done(self, export: ExportInfo, device: Any) -> Negotiated:
        return Negotiated(export=export, structured=self.structured,
                          meta_context=self.meta_export == export.name, device=device)

    async def _release_on_error(self, done: Negotiated, awaitable: Any) -> None:
        try:
            await awaitable
        except BaseException:
            await self.exports.release(done.export.name)
            raise

    async def _info(self, option: int, data: bytes) -> Negotiated | None:
        name, at = _string(data, 0)
        if at + 2 > len(data):
            raise _Invalid("INFO/GO data lacks the information request count")
        (count,) = struct.unpack_from(">H", data, at)
        at += 2
        if at + 2 * count != len(data):
            raise _Invalid(f"INFO/GO data has {len(data) - at} bytes for {count} requests")
        wanted = set(struct.unpack_from(f">{count}H", data, at))
        if not name and len(self.exports.names()) == 1:
            name = self.exports.names()[0]  # the default export
        export = self.exports.info(name)
        if export is None:
            await self._error(option, c.REP_ERR_UNKNOWN, f"no export named '{name}'")
            return None
        flags = transmission_flags(export, self.structured)
        await self._reply(option, c.REP_INFO, struct.pack(">HQH", c.INFO_EXPORT, export.size, flags))
        await self._reply(option, c.REP_INFO, struct.pack(">HIII", c.INFO_BLOCK_SIZE, 1,
                                                          export.block_size, c.MAX_REQUEST))
        if c.INFO_NAME in wanted:
            await self._reply(option, c.REP_INFO, struct.pack(">H", c.INFO_NAME) + export.name.encode())
        if c.INFO_DESCRIPTION in wanted and export.description:
            await self._reply(option, c.REP_INFO,
                              struct.pack(">H", c.INFO_DESCRIPTION) + export.description.encode())
        if option != c.OPT_GO:
            await self._reply(option, c.REP_ACK)
            return None
        try:  # open before the final ACK, so a failing vdisk is an error reply, not a hang-up
            device = await self.exports.open(export.name)
        except Exception as exc:
            log.warning("export %s cannot be opened: %s", export.name, exc)
            await self._error(option, c.REP_ERR_UNKNOWN, f"export '{export.name}' cannot be opened: {exc}")
            return None
        done = self._done(export, device)
        await self._release_on_error(done, self._reply(option, c.REP_ACK))
        return done

    async def _meta_context(self, option: int, data: bytes) -> None:
        if not self.structured:
            raise _Invalid("meta contexts need structured replies")
        name, at = _string(data, 0)
        if at + 4 > len(data):
            raise _Invalid("meta context data lacks the query count")
        (count,) = struct.unpack_from(">I", data, at)
        at += 4
        queries = []
        for _ in range(count):
            query, at = _string(data, at)
            queries.append(query)
        if at != len(data):
            raise _Invalid("meta context data has trailing bytes")
        if self.exports.info(name) is None:
            await self._error(option, c.REP_ERR_UNKNOWN, f"no export named '{name}'")
            return
        if option == c.OPT_LIST_META_CONTEXT:
            match = not queries or any(q in ("base:", c.BASE_ALLOCATION) for q in queries)
            context_id = 0
        else:
            match = c.BASE_ALLOCATION in queries
            context_id = c.BASE_ALLOCATION_ID
            self.meta_export = name if match else None
        if match:
            await self._reply(option, c.REP_META_CONTEXT,
                              struct.pack(">I", context_id) + c.BASE_ALLOCATION.encode())
        await self._reply(option, c.REP_ACK)
