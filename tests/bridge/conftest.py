"""Fixtures of the bridge suite: a real bridge on a free loopback port over the session's real
nats-server, a redis-server peer for "same behaviour" checks, and `BusAgent`, which answers
commands by writing `job.finished` events and ZOS_LOGS records on the bus — exactly what the
node agent writes — so protocol tests exercise the bridge end to end without a node agent."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import json
import socket
import ssl
import threading
import uuid
from typing import Any
from collections.abc import AsyncIterator, Callable, Iterator

import pytest

from zos.bus import Bus, connect, free_port, log_subject, node_commands_filter
from zos.events import command_from_event, new_event
from zos.node.bridge import run_bridge


def new_node() -> str:
    return "br-" + uuid.uuid4().hex[:10]


@dataclasses.dataclass
class RunningBridge:
    node: str
    port: int
    password: str | None
    tls: bool

    def redis(self, **options: Any):
        """A current redis-py client on this bridge."""
        import redis

        if self.tls:
            options.setdefault("ssl", True)
            options.setdefault("ssl_cert_reqs", "none")
        return redis.Redis(host="127.0.0.1", port=self.port, password=self.password,
                           socket_timeout=30, **options)

    def raw(self) -> RawConnection:
        return RawConnection(self.port, tls=self.tls)


class BridgeThread:
    """A bridge serving on its own event loop in a thread, so that tests may block (sync
    clients, raw sockets) while it serves."""

    def __init__(self, nats_url: str, node: str, port: int, **options: Any) -> None:
        self.nats_url, self.node, self.port, self.options = nats_url, node, port, options
        self.loop = asyncio.new_event_loop()
        self.started = threading.Event()
        self.error: BaseException | None = None
        self.task: asyncio.Task | None = None
        self.thread = threading.Thread(target=self.loop.run_until_complete, args=(self._main(),),
                                       name=f"bridge-{node}", daemon=True)

    async def _main(self) -> None:
        self.task = asyncio.current_task()
        bridge_bus = await connect(self.nats_url, actor=f"bridge:{self.node}")
        ready = asyncio.Event()

        async def announce() -> None:
            await ready.wait()
            self.started.set()
        try:
            async with asyncio.TaskGroup() as tg:
                tg.create_task(announce())
                tg.create_task(run_bridge(bridge_bus, self.node, "127.0.0.1", self.port,
                                          ready=ready, **self.options))
        except asyncio.CancelledError:
            pass
        except BaseException as exc:  # reported by start()
            self.error = exc
        finally:
            self.started.set()
            await bridge_bus.nc.close()  # no drain: nothing to flush, and drain may wait 30 s

    def start(self) -> None:
        self.thread.start()
        if not self.started.wait(30):
            raise AssertionError("bridge did not listen within 30 s")
        if self.error is not None:
            raise self.error

    def stop(self) -> None:
        if self.task is not None and not self.loop.is_closed():
            self.loop.call_soon_threadsafe(self.task.cancel)
        self.thread.join(60)
        assert not self.thread.is_alive(), f"bridge {self.node} did not stop within 60 s"
        self.loop.close()


@pytest.fixture
def start_bridge(nats_url: str) -> Iterator[Callable[..., RunningBridge]]:
    """`start_bridge(password=None, tls=False, node=None, data_dir=None)` → a serving bridge."""
    threads: list[BridgeThread] = []

    def start(password: str | None = None, tls: bool = False, node: str | None = None,
              data_dir=None) -> RunningBridge:
        node = node or new_node()
        thread = BridgeThread(nats_url, node, free_port(), password=password, tls=tls,
                              data_dir=data_dir)
        threads.append(thread)
        thread.start()
        return RunningBridge(node, thread.port, password, tls)

    try:
        yield start
    finally:
        for thread in threads:
            thread.stop()


@pytest.fixture
def bridge(start_bridge) -> RunningBridge:
    return start_bridge()


class RawConnection:
    """A plain socket speaking RESP by hand, for what client libraries refuse to send."""

    def __init__(self, port: int, tls: bool = False, timeout: float = 30.0) -> None:
        sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        if tls:
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            sock = context.wrap_socket(sock)
        self.sock = sock
        self.buf = b""

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _fill(self) -> None:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("server closed the connection")
        self.buf += chunk

    def _line(self) -> bytes:
        while b"\r\n" not in self.buf:
            self._fill()
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def reply(self) -> Any:
        """One reply: str for +, Exception-like ('ERR', text) tuple for -, int, bytes, list, None."""
        line = self._line()
        kind, body = line[:1], line[1:]
        if kind == b"+":
            return body.decode()
        if kind == b"-":
            return ("error", body.decode("utf-8", "replace"))
        if kind == b":":
            return int(body)
        if kind == b"_":
            return None
        if kind == b"$":
            size = int(body)
            if size < 0:
                return None
            while len(self.buf) < size + 2:
                self._fill()
            data, self.buf = self.buf[:size], self.buf[size + 2:]
            return data
        if kind in (b"*", b"%"):
            count = int(body)
            if count < 0:
                return None
            return [self.reply() for _ in range(count * (2 if kind == b"%" else 1))]
        raise AssertionError(f"not a RESP reply: {line!r}")

    def closed_by_server(self) -> bool:
        try:
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    return True
                self.buf += chunk
        except (ConnectionResetError, BrokenPipeError):
            return True
        except TimeoutError:
            return False

    def close(self) -> None:
        self.sock.close()


def result_for(cmd, state: str = "SUCCESS", code: int = 0, data: str = "", streams=("", ""),
               level: int = 0, **extra: Any) -> dict[str, Any]:
    """A 0-core result object (spec §5) for command `cmd`."""
    return {"id": cmd.id, "command": cmd.command, "data": data, "streams": list(streams),
            "level": level, "state": state, "code": code, "starttime": 1530171234567, "time": 1,
            "tags": cmd.tags, "container": 0, **extra}


def record(job_id: str, text: str, meta: int) -> bytes:
    return json.dumps({"core": 0, "command": job_id,
                       "message": {"message": text, "epoch": 1530171234567890123, "meta": meta}}).encode()


class BusAgent:
    """Answers the commands sent to one node the way the node agent does, through the bus.

    `handler(cmd)` returns (result dict or None for "never finishes", [(text, meta), ...] for
    the streamed records). Every command seen is kept in `.seen` in arrival order.
    """

    def __init__(self, bus: Bus, node: str, handler: Callable) -> None:
        self.bus = bus
        self.node = node
        self.handler = handler
        self.seen: list = []

    async def run(self) -> None:
        since = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=5)
        async for item in self.bus.replay(node_commands_filter(self.node), since=since, follow=True):
            cmd = command_from_event(item.event)
            self.seen.append(cmd)
            result, records = self.handler(cmd)
            for text, meta in records:
                await self.bus.publish(log_subject(self.node, cmd.id), record(cmd.id, text, meta),
                                       headers={"Zos-Redis-Key": f"stream:{cmd.id}"})
            if result is not None:
                await self.publish(result)

    async def publish(self, result: dict[str, Any], node: str | None = None) -> None:
        await self.bus.append(new_event("job.finished", "job", result["id"],
                                        {"node": node or self.node, "result": result},
                                        actor=f"node:{self.node}"))


def default_handler(cmd):
    """core.ping answers PONG; bash `echo X` answers X; anything with `sleep` never ends."""
    if cmd.command == "core.ping":
        return result_for(cmd, data=json.dumps("PONG Version: zos @Revision: test"), level=20), []
    if cmd.command == "bash" and cmd.arguments.get("script", "").startswith("echo "):
        text = cmd.arguments["script"][5:]
        records = [(text, 1 << 16 | 1), ("", 1 << 16 | 0x3)] if cmd.stream else []
        return result_for(cmd, streams=(text + "\n", "")), records
    if "sleep" in json.dumps(cmd.arguments):
        return None, []
    return result_for(cmd, state="UNKNOWN_CMD"), []


@pytest.fixture
async def bus_agent(bus: Bus, bridge: RunningBridge) -> AsyncIterator[BusAgent]:
    agent = BusAgent(bus, bridge.node, default_handler)
    task = asyncio.create_task(agent.run())
    # No wait for the subscription: the agent reads 5 s back, so nothing sent later is missed.
    try:
        yield agent
    finally:
        await cancel(task)


async def cancel(task: asyncio.Task) -> None:
    """Cancel until it ends: nats-py can swallow a cancellation that lands in a subscribe."""
    while not task.done():
        task.cancel()
        await asyncio.wait([task], timeout=0.5)
