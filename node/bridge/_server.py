"""The RESP listener: one small protocol object per connection, no task per connection.

Requests are parsed and answered in `data_received` (pipelined replies go out in one write);
a blocking pop parks a waiter in the store and the connection stops answering until a push
or the timeout ends the wait, while it keeps reading so that a client that goes away is seen
at once. Idle connections therefore cost a transport and a few small objects each.
"""

from __future__ import annotations

import asyncio
import logging
import ssl

from . import _resp as resp
from ._commands import Block, Dispatcher, Quit, Session
from ._resp import ProtocolError, RequestParser
from ._store import Store, StoreError

log = logging.getLogger("zos.node.bridge")

# Input held for a blocked or write-stalled client before we stop reading from it.
MAX_PENDING_INPUT = 1024 * 1024


class _Wait:
    """A connection blocked in BLPOP / BRPOP / BRPOPLPUSH."""

    __slots__ = ("conn", "block", "keys", "timer")

    def __init__(self, conn: Connection, block: Block) -> None:
        self.conn = conn
        self.block = block
        self.keys = block.keys
        self.timer: asyncio.TimerHandle | None = None

    def serve(self, key: bytes) -> bool:
        store, block = self.conn.server.store, self.block
        try:
            if block.dst is not None:
                reply = resp.bulk(store.move(key, block.dst))
            else:
                reply = resp.array([key, store.pop(key, left=block.left)])  # type: ignore[list-item]
        except StoreError as exc:  # WRONGTYPE on the destination
            reply = resp.error(str(exc))
        self.conn.resume(self, reply)
        return True

    def expire(self) -> None:
        self.conn.server.store.unblock(self)
        if self.conn.session.protocol == 3:
            self.conn.resume(self, resp.NULL3)
        else:
            self.conn.resume(self, resp.NIL if self.block.dst is not None else resp.NIL_ARRAY)


class Connection(asyncio.Protocol):
    __slots__ = ("server", "transport", "parser", "session", "waiting", "write_paused",
                 "read_paused", "closed")

    def __init__(self, server: BridgeServer) -> None:
        self.server = server
        self.transport: asyncio.Transport | None = None
        self.parser = RequestParser()
        self.session = Session(authenticated=server.dispatcher.password is None)
        self.waiting: _Wait | None = None
        self.write_paused = False
        self.read_paused = False
        self.closed = False

    # -- asyncio callbacks ----------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.server.connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.server.connections.discard(self)
        if self.waiting is not None:
            self._cancel_wait()

    def data_received(self, data: bytes) -> None:
        self.parser.feed(data)
        self.process()

    def pause_writing(self) -> None:
        self.write_paused = True

    def resume_writing(self) -> None:
        self.write_paused = False
        asyncio.get_running_loop().call_soon(self.process)

    # -- requests -------------------------------------------------------------------------
    def process(self) -> None:
        """Answer every complete request buffered, until one blocks or the client stalls."""
        if self.closed or self.transport is None:
            return
        out: list[bytes] = []
        dispatch, session = self.server.dispatcher.dispatch, self.session
        try:
            while self.waiting is None and not self.write_paused:
                args = self.parser.next()
                if args is None:
                    break
                if not args:
                    continue
                reply = dispatch(session, args)
                if type(reply) is bytes:
                    if session.protocol == 3 and (reply == resp.NIL or reply == resp.NIL_ARRAY):
                        reply = resp.NULL3
                    out.append(reply)
                elif isinstance(reply, Block):
                    self._wait(reply)
                elif isinstance(reply, Quit):
                    out.append(resp.OK)
                    self.transport.write(b"".join(out))
                    self.transport.close()
                    return
        except ProtocolError as exc:
            out.append(resp.error(f"ERR Protocol error: {exc}"))
            self.transport.write(b"".join(out))
            self.transport.close()
            self.closed = True
            return
        if out:
            self.transport.write(b"".join(out) if len(out) > 1 else out[0])
        self._flow()

    def _flow(self) -> None:
        """Stop reading from a client that sends while it cannot be answered; resume after."""
        stalled = (self.waiting is not None or self.write_paused) and \
            self.parser.buffered() > MAX_PENDING_INPUT
        if stalled and not self.read_paused:
            self.read_paused = True
            self.transport.pause_reading()  # type: ignore[union-attr]
        elif not stalled and self.read_paused:
            self.read_paused = False
            self.transport.resume_reading()  # type: ignore[union-attr]

    def _wait(self, block: Block) -> None:
        waiter = self.waiting = _Wait(self, block)
        self.server.store.block(waiter)
        if block.timeout > 0:
            waiter.timer = asyncio.get_running_loop().call_later(block.timeout, waiter.expire)

    def _cancel_wait(self) -> None:
        waiter, self.waiting = self.waiting, None
        if waiter is not None:
            self.server.store.unblock(waiter)
            if waiter.timer is not None:
                waiter.timer.cancel()

    def resume(self, waiter: _Wait, reply: bytes) -> None:
        """The wait ended (data or timeout): answer, then go on with pipelined requests."""
        if self.waiting is not waiter:
            return
        self._cancel_wait()
        if self.closed or self.transport is None:
            return
        self.transport.write(reply)
        # Not inline: we may be inside another client's push; let it finish first.
        asyncio.get_running_loop().call_soon(self.process)


class BridgeServer:
    """The listener and the live connections around one store and dispatcher."""

    def __init__(self, store: Store, dispatcher: Dispatcher) -> None:
        self.store = store
        self.dispatcher = dispatcher
        self.connections: set[Connection] = set()
        self.address: tuple[str, int] | None = None

    async def serve(self, host: str, port: int, *, ssl_context: ssl.SSLContext | None = None,
                    ready: asyncio.Event | None = None) -> None:
        """Listen until cancelled; then close every client connection."""
        loop = asyncio.get_running_loop()
        server = await loop.create_server(lambda: Connection(self), host, port, ssl=ssl_context,
                                          backlog=4096, reuse_address=True)
        self.address = server.sockets[0].getsockname()[:2]
        log.info("bridge: RESP%s on %s:%s", " over TLS" if ssl_context else "", *self.address)
        try:
            async with server:
                if ready is not None:
                    ready.set()
                await server.serve_forever()
        finally:
            for conn in list(self.connections):
                if conn.transport is not None:
                    conn.transport.abort()

    async def sweep_expired(self, interval: float = 1.0) -> None:
        """Drop keys whose time is up even if nobody reads them (redis-server's active expiry)."""
        while True:
            await asyncio.sleep(interval)
            self.store.sweep()

    def info(self) -> dict[str, dict[str, object]]:
        return {
            "Server": {"redis_version": "7.0.0", "redis_mode": "standalone", "zos_bridge": "0-core",
                       "tcp_port": self.address[1] if self.address else 0},
            "Clients": {"connected_clients": len(self.connections),
                        "blocked_clients": self.store.blocked()},
            "Memory": {"used_memory": self.store.used, "maxmemory": self.store.max_bytes},
            "Keyspace": {"db0": f"keys={len(self.store)},expires={self.store.expiring()},avg_ttl=0"},
        }
