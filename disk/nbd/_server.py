"""The NBD server: listeners, one task per connection, one task per request (spec §5.3).

A connection's reader parses requests and starts a task for each; replies go out under a
per-connection send lock, so replies of different requests may come back in any order but
never interleave mid-message. At most `max_requests` requests and `max_bytes` of payload are
in flight per connection: beyond that the reader stops reading the socket.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from pathlib import Path
from typing import Any

from . import _constants as c
from ._errors import ClientGone, ProtocolViolation, Unsupported
from ._exports import Exports
from ._handshake import Handshake, Negotiated
from ._protocol import (Request, block_status_chunk, check_request, data_chunk_header, error_chunk,
                        hole_chunk, parse_request, simple_reply)

log = logging.getLogger("zos.disk.nbd")


class _Budget:
    """Requests and payload bytes in flight on one connection."""

    def __init__(self, max_requests: int, max_bytes: int) -> None:
        self.max_requests, self.max_bytes = max_requests, max_bytes
        self.requests = self.bytes = 0
        self._cond = asyncio.Condition()

    async def take(self, nbytes: int) -> None:
        async with self._cond:
            await self._cond.wait_for(lambda: self.requests < self.max_requests and (
                self.bytes == 0 or self.bytes + nbytes <= self.max_bytes))
            self.requests += 1
            self.bytes += nbytes

    async def give(self, nbytes: int) -> None:
        async with self._cond:
            self.requests -= 1
            self.bytes -= nbytes
            self._cond.notify_all()

    async def idle(self) -> None:
        async with self._cond:
            await self._cond.wait_for(lambda: self.requests == 0)


class Connection:
    def __init__(self, server: NBDServer, reader: asyncio.StreamReader,
                 writer: asyncio.StreamWriter) -> None:
        self.server = server
        self.reader = reader
        self.writer = writer
        # Replies are queued whole and written once per loop iteration: replies that complete
        # together leave in one write, and one reply's parts can never interleave another's.
        self._outbox: list[bytes] = []
        self._flush_pending = False
        self.budget = _Budget(server.max_requests, server.max_bytes)

    async def serve(self) -> None:
        try:
            negotiated = await Handshake(self.reader, self.writer, self.server.exports,
                                         self.server.shutting_down).run()
            if negotiated is None:
                return
            try:
                await self._transmit(negotiated, negotiated.device)
            finally:
                await self.server.exports.release(negotiated.export.name)
        except (ProtocolViolation, ClientGone) as exc:
            log.info("closing NBD connection: %s", exc)
        except TimeoutError:
            log.info("closing NBD connection: negotiation took longer than %s s", c.NEGOTIATION_TIMEOUT)
        except (ConnectionError, OSError, asyncio.IncompleteReadError) as exc:
            log.info("NBD connection lost: %r", exc)
        except Exception:
            log.exception("NBD connection failed")
        finally:
            self.writer.close()
            with contextlib.suppress(Exception):
                await self.writer.wait_closed()

    async def _transmit(self, neg: Negotiated, device: Any) -> None:
        # Request tasks are children of this call: it waits for all of them before returning.
        tasks: set[asyncio.Task] = set()
        try:
            while True:
                try:
                    header = await self.reader.readexactly(c.REQUEST.size)
                except asyncio.IncompleteReadError:
                    return  # client went away between requests
                request = parse_request(header)
                payload = await self.reader.readexactly(request.payload_length) \
                    if request.payload_length else b""
                if request.type == c.CMD_DISC:
                    await self.budget.idle()
                    if not neg.export.read_only:
                        with contextlib.suppress(Exception):
                            await device.flush()
                    return
                await self.budget.take(len(payload))
                task = asyncio.create_task(self._handle(neg, device, request, payload))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
        finally:
            if tasks:
                await asyncio.gather(*tasks, return_exceptions=True)

    def _flush_outbox(self) -> None:
        self._flush_pending = False
        parts, self._outbox = self._outbox, []
        if not self.writer.is_closing():
            self.writer.writelines(parts)

    async def _send(self, *parts: bytes) -> None:
        self._outbox.extend(parts)
        if not self._flush_pending:
            self._flush_pending = True
            asyncio.get_running_loop().call_soon(self._flush_outbox)
        await asyncio.sleep(0)          # let the flush run before waiting for buffer space
        await self.writer.drain()

    async def _fail(self, neg: Negotiated, request: Request, error: int, message: str = "") -> None:
        if neg.structured and request.type in (c.CMD_READ, c.CMD_BLOCK_STATUS):
            await self._send(error_chunk(request.cookie, error, message))
        else:
            await self._send(simple_reply(request.cookie, error))

    async def _handle(self, neg: Negotiated, device: Any, request: Request, payload: bytes) -> None:
        try:
            if self.server.shutting_down.is_set() and self.server.refuse_new:
                await self._fail(neg, request, c.ESHUTDOWN, "server is shutting down")
                return
            error = check_request(request, neg.export, neg.structured, neg.meta_context)
            if error:
                await self._fail(neg, request, error, f"{request.name} at {request.offset}+"
                                 f"{request.length} refused (errno {error})")
                return
            try:
                await self._run(neg, device, request, payload)
            except (ConnectionError, OSError):
                raise
            except Unsupported as exc:
                await self._fail(neg, request, c.ENOTSUP, str(exc))
            except Exception as exc:  # storage or log failure: EIO for this request only
                log.warning("%s on %s failed: %s", request.name, neg.export.name, exc, exc_info=True)
                await self._fail(neg, request, c.EIO, str(exc))
        finally:
            await self.budget.give(len(payload))

    async def _run(self, neg: Negotiated, device: Any, request: Request, payload: bytes) -> None:
        kind, cookie, offset, length = request.type, request.cookie, request.offset, request.length
        if kind == c.CMD_READ:
            # Data goes out as the device's list of parts in one writev, never joined.
            if not neg.structured:
                await self._send(simple_reply(cookie), *await device.pread_parts(offset, length))
            elif request.flags & c.CMD_FLAG_DF:
                await self._send(data_chunk_header(cookie, offset, length, True),
                                 *await device.pread_parts(offset, length))
            else:
                runs = await device.read_extents(offset, length)
                parts: list[bytes] = []
                for n, (at, size, data) in enumerate(runs):
                    done = n == len(runs) - 1
                    if data is None:
                        parts.append(hole_chunk(cookie, at, size, done))
                    else:
                        parts.append(data_chunk_header(cookie, at, size, done))
                        parts.extend(data)
                await self._send(*parts)
        elif kind == c.CMD_WRITE:
            await device.pwrite(offset, payload, fua=request.fua)
            await self._send(simple_reply(cookie))
        elif kind == c.CMD_FLUSH:
            if not neg.export.read_only:
                await device.flush()
            await self._send(simple_reply(cookie))
        elif kind == c.CMD_TRIM:
            await device.trim(offset, length, fua=request.fua)
            await self._send(simple_reply(cookie))
        elif kind == c.CMD_WRITE_ZEROES:
            await device.zero(offset, length, fua=request.fua,
                              fast=bool(request.flags & c.CMD_FLAG_FAST_ZERO))
            await self._send(simple_reply(cookie))
        elif kind == c.CMD_CACHE:
            await self._send(simple_reply(cookie))
        elif kind == c.CMD_BLOCK_STATUS:
            extents = await device.block_status(offset, length,
                                                one=bool(request.flags & c.CMD_FLAG_REQ_ONE))
            await self._send(block_status_chunk(cookie, c.BASE_ALLOCATION_ID, extents))


class NBDServer:
    """Serve `exports` on unix sockets and/or TCP; `await server.start(...)`, then `close()`."""

    def __init__(self, exports: Exports, *, max_requests: int = 64, max_bytes: int = 64 << 20) -> None:
        self.exports = exports
        self.max_requests = max_requests
        self.max_bytes = max_bytes
        self.shutting_down = asyncio.Event()
        self.refuse_new = True
        self._servers: list[asyncio.base_events.Server] = []
        self._connections: dict[asyncio.Task, Connection] = {}
        self._unix_paths: list[Path] = []

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        connection = Connection(self, reader, writer)
        self._connections[task] = connection
        try:
            await connection.serve()
        finally:
            self._connections.pop(task, None)

    async def listen(self, address: str) -> str:
        """`unix:PATH` or `tcp:HOST:PORT`; returns the NBD URI prefix for it."""
        kind, _, where = address.partition(":")
        if kind == "unix":
            path = Path(where)
            path.parent.mkdir(parents=True, exist_ok=True)
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
            self._servers.append(await asyncio.start_unix_server(self._accept, path=str(path),
                                                                 limit=1 << 20))
            os.chmod(path, 0o660)
            self._unix_paths.append(path)
            return f"nbd+unix:///?socket={path}"
        if kind == "tcp":
            host, _, port = where.rpartition(":")
            server = await asyncio.start_server(self._accept, host=host or "127.0.0.1",
                                                port=int(port), limit=1 << 20)
            self._servers.append(server)
            bound = server.sockets[0].getsockname()
            return f"nbd://{bound[0]}:{bound[1]}/"
        raise ValueError(f"listen address '{address}' is not unix:PATH or tcp:HOST:PORT")

    async def close(self, timeout: float = 60.0) -> None:
        """Stop accepting, answer ESHUTDOWN to new requests, let the ones in flight finish,
        then hang up; each export is flushed and closed as its last connection ends."""
        self.shutting_down.set()
        for server in self._servers:
            server.close()

        async def hang_up(connection: Connection) -> None:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await connection.budget.idle()
            connection.writer.close()
        await asyncio.gather(*(hang_up(conn) for conn in list(self._connections.values())))
        if self._connections:
            _, pending = await asyncio.wait(list(self._connections), timeout=timeout)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        for path in self._unix_paths:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
