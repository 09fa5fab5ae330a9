"""What the agent knows about its VMs: one directory per VM under `DATA/vms/<uuid>/` with the
VM's record (`vm.json`: the create parameters, pid, accelerator, attached disks, last known
state) next to qemu's sockets, pid file and serial log; and, in memory, the watcher of each
running qemu.

The watcher turns QMP events into `vm.state_changed` events. A command that causes an event
(`stop` causes STOP) says so first with `expect()`, records the change itself (caused by its
job) and the watcher stays quiet about it, so each change is recorded exactly once.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import itertools
import json
import logging
import shutil
from pathlib import Path
from typing import Any

from . import _kvm_flist as flists
from . import _kvm_net as net
from . import _kvm_qemu as qemu
from . import _kvm_qmp as qmp

log = logging.getLogger("zos.node.kvm")
RECORD = "vm.json"
# QMP event -> the state it means
EVENT_STATES = {"STOP": "paused", "RESUME": "running", "SHUTDOWN": "shutdown", "RESET": "running"}
# query-status `status` -> 0-core list state
STATUS_STATES = {"running": "running", "paused": "paused", "suspended": "pmsuspended",
                 "postmigrate": "paused", "prelaunch": "paused", "inmigrate": "paused",
                 "finish-migrate": "paused", "restore-vm": "paused", "save-vm": "paused",
                 "shutdown": "shutdown", "guest-panicked": "crashed", "internal-error": "crashed",
                 "io-error": "paused", "watchdog": "paused", "colo": "running", "debug": "paused"}


# state -> upstream's kvm.events (event, detail), libvirt's lifecycle words
LIFECYCLE = {"running": ("resumed", "unpaused"), "paused": ("suspended", "paused"),
             "shutdown": ("shutdown", "finished"), "shutoff": ("stopped", "shutdown"),
             "crashed": ("stopped", "crashed")}
LISTENERS: list[asyncio.Queue] = []    # kvm.events jobs
_SEQUENCE = itertools.count(1)         # per agent run, as upstream's


def announce(uuid: str, name: str, event: str, detail: str) -> None:
    """Tell running kvm.events jobs about a lifecycle change."""
    body = {"uuid": uuid, "name": name, "event": event, "detail": detail, "sequence": next(_SEQUENCE)}
    for queue in LISTENERS:
        queue.put_nowait(body)


def vms_dir(config: Any) -> Path:
    return Path(config.data_dir) / "vms"


@dataclasses.dataclass
class Vm:
    """A VM of this node: its directory and record, and the agent's live handle on it."""

    directory: Path
    record: dict[str, Any]
    watcher: asyncio.Task | None = None
    expected: list[str] = dataclasses.field(default_factory=list)
    leaving: bool = False            # a command is ending this qemu: the watcher stays quiet
    lock: asyncio.Lock = dataclasses.field(default_factory=asyncio.Lock)

    @property
    def uuid(self) -> str:
        return self.record["uuid"]

    @property
    def pid(self) -> int | None:
        return self.record.get("pid")

    def alive(self) -> bool:
        return qemu.is_qemu(self.pid, self.uuid)

    def save(self) -> None:
        tmp = self.directory / (RECORD + ".tmp")
        tmp.write_text(json.dumps(self.record, sort_keys=True, indent=1))
        tmp.replace(self.directory / RECORD)

    def expect(self, *events: str) -> None:
        self.expected.extend(events)

    async def execute(self, command: str, arguments: dict[str, Any] | None = None,
                      timeout: float = 30.0) -> Any:
        return await qmp.execute(self.directory, qemu.QMP_SOCKET, command, arguments, timeout)


class Registry:
    """The VMs of one agent, keyed by uuid (module-level: one agent per process)."""

    def __init__(self) -> None:
        self.vms: dict[str, Vm] = {}

    def load(self, config: Any) -> list[Vm]:
        """Read every VM directory (at agent start)."""
        root = vms_dir(config)
        found = []
        for directory in sorted(root.glob("*/")) if root.exists() else []:
            try:
                record = json.loads((directory / RECORD).read_text())
            except (OSError, ValueError):
                log.warning("VM directory %s has no readable record: removed", directory)
                shutil.rmtree(directory, ignore_errors=True)
                continue
            vm = self.vms.get(record["uuid"]) or Vm(directory, record)
            self.vms[vm.uuid] = vm
            found.append(vm)
        return found

    def get(self, uuid: str) -> Vm | None:
        return self.vms.get(uuid)

    def by_name(self, name: str) -> Vm | None:
        return next((vm for vm in self.vms.values() if vm.record.get("name") == name), None)

    def forget(self, vm: Vm) -> None:
        self.vms.pop(vm.uuid, None)
        shutil.rmtree(vm.directory, ignore_errors=True)


REGISTRY = Registry()


async def live_state(vm: Vm) -> str:
    """The 0-core state of a VM right now (`shutoff` without a qemu)."""
    if not vm.alive():
        return "shutoff"
    try:
        status = await qmp.execute(vm.directory, qemu.QMP_SOCKET, "query-status", timeout=5)
    except Exception:
        return "blocked"
    return STATUS_STATES.get(status.get("status"), "nostate")


async def set_state(agent: Any, vm: Vm, state: str, reason: str, emit: Any = None) -> None:
    """Record a state change (through `emit` = ctx.emit when a command caused it)."""
    previous = vm.record.get("state")
    vm.record["state"] = state
    with contextlib.suppress(OSError):
        vm.save()
    data = {"uuid": vm.uuid, "state": state, "node": agent.node_id, "reason": reason}
    if previous:
        data["previous"] = previous
    event, detail = LIFECYCLE.get(state, ("unknown", reason))
    if reason == "start":
        event, detail = "started", "booted"
    announce(vm.uuid, vm.record.get("name", ""), event, detail)
    if emit is not None:
        emit("vm.state_changed", "vm", vm.uuid, data)
    else:
        await agent.record("vm.state_changed", "vm", vm.uuid, data)


def start_watcher(agent: Any, vm: Vm, connection: Any) -> None:
    vm.watcher = agent.spawn(_watch(agent, vm, connection))


async def connect_events(vm: Vm) -> Any:
    return await qmp.connect(vm.directory, qemu.EVENTS_SOCKET)


async def _watch(agent: Any, vm: Vm, connection: Any) -> None:
    async def on_event(name: str, data: dict[str, Any]) -> None:
        if name in vm.expected:
            vm.expected.remove(name)
            return
        state = EVENT_STATES.get(name)
        if state is None or vm.leaving:
            return
        reason = name.lower() if name != "SHUTDOWN" else f"guest shutdown ({data.get('reason', 'unknown')})"
        await set_state(agent, vm, state, reason)

    await qmp.watch(connection, on_event)
    if vm.leaving:
        return
    # qemu closed its socket: it exited (guest powered off, crashed or was killed).
    await asyncio.to_thread(qemu.wait_gone, vm.pid or 0, vm.uuid, 10.0)
    if vm.alive() or vm.leaving:
        return
    await asyncio.to_thread(release, vm)
    if vm.record.get("state") != "shutoff":
        await set_state(agent, vm, "shutoff", "qemu exited")


def release(vm: Vm) -> None:
    """Remove what a qemu that is gone leaves behind (taps, port forwards, sockets, pid
    file); the record stays. Blocking (netlink, nft): call it from a thread."""
    namespace = vm.record.get("namespace")
    for nic in vm.record.get("nics") or []:
        if nic.get("tap"):
            net.unplug(nic["tap"], namespace)
    if vm.record.get("root"):
        with contextlib.suppress(Exception):
            flists.unmount(Path(vm.record["root"]), vm.directory.parent.parent)
    if vm.record.get("port"):
        with contextlib.suppress(Exception):
            net.remove_forwards(vm.uuid, namespace)
    for name in (qemu.QMP_SOCKET, qemu.EVENTS_SOCKET, qemu.PIDFILE):
        with contextlib.suppress(OSError):
            (vm.directory / name).unlink()
    vm.record["pid"] = None
    with contextlib.suppress(OSError):
        vm.save()
