"""Talking to a VM's qemu over QMP (the `qemu.qmp` asyncio library).

Each qemu has two QMP sockets: `qmp.sock` for commands (one short connection per command; a
QMP socket serves one client at a time) and `events.sock`, held by the agent's watcher for
the asynchronous events (STOP, RESUME, SHUTDOWN, ...). QMP failures become `BuiltinError`s.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

from qemu.qmp import ConnectError, ExecuteError, QMPClient, QMPError, Runstate

from ._registry import BuiltinError

log = logging.getLogger("zos.node.kvm")
logging.getLogger("qemu.qmp").setLevel(logging.WARNING)


@contextlib.asynccontextmanager
async def _short_path(directory: Path, name: str) -> AsyncIterator[str]:
    """A path to `directory/name` that fits a unix socket address (108 bytes): through an
    O_PATH descriptor of the directory, held while connecting."""
    fd = os.open(directory, os.O_PATH | os.O_DIRECTORY)
    try:
        yield f"/proc/self/fd/{fd}/{name}"
    finally:
        os.close(fd)


async def connect(directory: Path, socket: str, timeout: float = 10.0) -> QMPClient:
    qmp = QMPClient(f"zos-{directory.name[:8]}")
    try:
        async with _short_path(directory, socket) as path:
            await asyncio.wait_for(qmp.connect(path), timeout)
    except (TimeoutError, ConnectError, OSError) as exc:
        with contextlib.suppress(Exception):
            await qmp.disconnect()
        raise BuiltinError(503, f"qemu of VM {directory.name} does not answer on QMP: {exc}") from None
    return qmp


async def execute(directory: Path, socket: str, command: str, arguments: dict[str, Any] | None = None,
                  timeout: float = 30.0) -> Any:
    """Run one QMP command on the VM's command socket."""
    qmp = await connect(directory, socket)
    try:
        return await run(qmp, command, arguments, timeout)
    finally:
        with contextlib.suppress(Exception):
            await qmp.disconnect()


async def run(qmp: QMPClient, command: str, arguments: dict[str, Any] | None = None,
              timeout: float = 30.0) -> Any:
    try:
        return await asyncio.wait_for(qmp.execute(command, arguments), timeout)
    except ExecuteError as exc:
        raise BuiltinError(400 if exc.error_class == "GenericError" else 500,
                           f"qemu refused {command}: {exc.error.error.desc}") from None
    except TimeoutError:
        raise BuiltinError(500, f"qemu did not answer {command} within {timeout:.0f} s") from None
    except (QMPError, OSError) as exc:
        raise BuiltinError(503, f"QMP {command} failed: {exc}") from None


async def watch(qmp: QMPClient, on_event: Callable[[str, dict[str, Any]], Awaitable[None]]) -> None:
    """Feed each QMP event to `on_event(name, data)` until qemu closes the connection."""
    try:
        while True:
            try:
                event = await asyncio.wait_for(qmp.events.get(), 0.5)
            except TimeoutError:
                if qmp.runstate != Runstate.RUNNING:
                    return
                continue
            try:
                await on_event(event["event"], dict(event.get("data") or {}))
            except Exception:
                log.exception("QMP event %s not handled", event.get("event"))
    finally:
        with contextlib.suppress(Exception):
            await qmp.disconnect()
