"""`kvm.*` builtins (spec containers-vms §2): one qemu process per VM, driven over QMP.

A VM is created from `media` (nbd URLs served by `zos disk serve`, local raw/qcow2 files,
cd-roms; the first boots) or a kernel (`kernel`, `initrd`, `cmdline`: an extension used for
direct kernel boot); `cpu`, `memory` (MiB), `name`, optional `uuid`. Extensions to upstream's
arguments: `uuid`, `kernel`/`initrd`/`cmdline`, `accel` (kvm | tcg | auto, default auto).

State changes are domain events on `zos.evt.vm.<uuid>` (events/catalog/vm.py). VMs outlive
the agent: at start the agent reads `DATA/vms/*/vm.json`, reconnects to each live qemu's
QMP sockets and records `vm.adopted`, or `vm.state_changed` to shutoff for a qemu that died
while it was away.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import subprocess
import uuid as uuidlib
from pathlib import Path
from typing import Any

import psutil

from zos.bus import call, free_port, io_subject
from zos.events import encode_value

from . import _kvm_flist as flists
from . import _kvm_media as media_
from . import _kvm_net as net
from . import _kvm_qemu as qemu
from . import _kvm_vm as vms
from .._messages import Message
from ._kvm_vm import REGISTRY, Vm
from ._net_ns import namespace_arg
from ._registry import BuiltinError, Context, arg, builtin, service
from ._sys_run import in_namespace

log = logging.getLogger("zos.node.kvm")
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_NAME = re.compile(r"^[A-Za-z0-9_.@:+-]{1,64}$")
SHUTDOWN_WAIT = 30.0


# -- arguments -----------------------------------------------------------------------------
def uuid_arg(args: dict[str, Any], field: str = "uuid") -> str:
    value = arg(args, field, "str")
    if not _UUID.match(value):
        raise BuiltinError(400, f"argument '{field}' has value '{value}': not a uuid")
    return value.lower()


def find(args: dict[str, Any]) -> Vm:
    uuid = uuid_arg(args)
    vm = REGISTRY.get(uuid)
    if vm is None:
        raise BuiltinError(404, f"couldn't find domain with the uuid {uuid}")
    return vm


def running(args: dict[str, Any]) -> Vm:
    vm = find(args)
    if not vm.alive():
        raise BuiltinError(412, f"VM {vm.uuid} is not running (state {vm.record.get('state')})")
    return vm


def parse_create(args: dict[str, Any]) -> dict[str, Any]:
    """The checked parameters of kvm.create (upstream's CreateParams plus the extensions)."""
    name = arg(args, "name", "str", "")
    if name and not _NAME.match(name):
        raise BuiltinError(400, f"argument 'name' has value '{name}': use letters, digits and _.@:+- (1-64)")
    cpu = arg(args, "cpu", "int", 0)
    memory = arg(args, "memory", "int", 0)
    if cpu <= 0:
        raise BuiltinError(400, "CPU is a required parameter")
    if memory <= 0:
        raise BuiltinError(400, "Memory is a required parameter")
    host = psutil.virtual_memory().total // (1024 * 1024)
    if memory > host:
        raise BuiltinError(400, f"argument 'memory' is {memory} MiB: more than the host's {host} MiB")
    if cpu > 255:
        raise BuiltinError(400, f"argument 'cpu' is {cpu}: at most 255")
    media = [media_.parse_medium(raw, f"media[{i}]") for i, raw in enumerate(arg(args, "media", "list", []))]
    kernel = arg(args, "kernel", "str", None)
    flist = arg(args, "flist", "str", "")
    if not media and not kernel and not flist:
        raise BuiltinError(400, "At least one boot media has to be provided (via media or an flist)")
    nics = arg(args, "nics", "list", [])
    for i, raw in enumerate(nics):  # checked here, made at launch
        net.parse_nic(raw, f"nics[{i}]", "0" * 8, i, 2)
    if sum(1 for n in nics if n.get("type") == "default") > 1:
        raise BuiltinError(400, "argument 'nics': at most one default nic")
    ports = net.ports_arg(arg(args, "port", "dict", {}))
    if ports and not any(n.get("type") == "default" for n in nics):
        raise BuiltinError(400, "argument 'port' needs a default nic (port forwards go to its address)")
    for field in ("kernel", "initrd"):
        path = arg(args, field, "str", None)
        if path is not None and not Path(path).is_file():
            raise BuiltinError(400, f"argument '{field}' has value '{path}': no such file")
    uuid = uuid_arg(args) if args.get("uuid") else str(uuidlib.uuid4())
    return {"uuid": uuid, "name": name or f"vm-{uuid[:8]}", "cpu": cpu, "memory": memory,
            "media": [m.as_dict() for m in media], "kernel": kernel, "initrd": arg(args, "initrd", "str", None),
            "cmdline": arg(args, "cmdline", "str", None), "flist": flist, "nics": nics,
            "config": arg(args, "config", "dict", {}), "mount": arg(args, "mount", "list", []),
            "port": {str(h): g for h, g in ports.items()}, "tags": list(arg(args, "tags", "list", [])),
            "accel": arg(args, "accel", "str", None), "namespace": namespace_arg(args),
            "storage": [str(u) for u in arg(args, "storage", "list", [])]}


def file_format(path: str) -> str:
    """raw or qcow2 (qemu-img's verdict); a missing file is a 400."""
    if not Path(path).exists():
        raise BuiltinError(400, f"medium '{path}': no such file")
    try:
        out = subprocess.run(["qemu-img", "info", "--output=json", "-U", path], capture_output=True,
                             text=True, timeout=30)
        fmt = json.loads(out.stdout).get("format", "raw")
    except (OSError, ValueError, subprocess.TimeoutExpired):
        return "raw"
    return fmt if fmt in ("raw", "qcow2") else "raw"


def disk_specs(media: list[dict[str, Any]], start: int = 0) -> tuple[list[dict], list[dict], dict[str, dict]]:
    blockdevs, devices, disks = [], [], {}
    for i, raw in enumerate(media, start):
        medium = media_.Medium(**raw)
        fmt = None if medium.is_nbd else file_format(medium.path)
        node, device_id = f"drive{i}", f"disk{i}"
        blockdevs.append(media_.blockdev(medium, node, fmt))
        devices.append(media_.device(medium, node, device_id, boot=(i == 0)))
        disks[device_id] = medium.as_dict()
    return blockdevs, devices, disks


# -- life of a qemu ------------------------------------------------------------------------
PARAMS = ("uuid", "name", "cpu", "memory", "media", "kernel", "initrd", "cmdline", "flist", "nics",
          "config", "mount", "port", "tags", "accel", "namespace", "storage")


def plug_nics(ctx: Context, record: dict[str, Any]) -> tuple[list[dict], list[dict]]:
    """Make the taps of the VM's nics (filling in each nic's hwaddr and tap); returns the
    qemu netdevs and devices."""
    namespace, uuid = record.get("namespace"), record["uuid"]
    if any(n.get("type") == "default" for n in record["nics"]) and not record.get("seq"):
        record["seq"] = net.next_seq({vm.record.get("seq") for vm in REGISTRY.vms.values()} - {None})
    netdevs, devices, made = [], [], []
    try:
        for i, raw in enumerate(record["nics"]):
            nic = net.parse_nic(raw, f"nics[{i}]", uuid, i, record.get("seq") or 0)
            net.plug(ctx, nic, namespace, record.get("seq") or 0)
            made.append(nic.tap)
            record["nics"][i] = {**raw, **nic.as_dict()}
            netdevs.append(net.netdev(nic))
            devices.append(net.device(nic))
    except BaseException:
        for tap in made:
            net.unplug(tap, namespace)
        raise
    record["next_nic"] = len(record["nics"])
    return netdevs, devices


def default_ip(record: dict[str, Any]) -> str:
    return net.seq_address(record["seq"])[1] if record.get("seq") and any(
        n.get("type") == "default" for n in record.get("nics") or []) else ""


def _flist_boot(ctx: Context, record: dict[str, Any], directory: Path) -> tuple[dict[str, Any], list[str]]:
    root = directory / "root"
    flists.mount(record["flist"], root, Path(ctx.config.data_dir), f"vm-{record['uuid'][:8]}",
                 record.get("storage") or [])
    record["root"] = str(root)
    if record.get("config"):
        flists.write_config(root, record["config"])
    boot = flists.boot_spec(root)
    if record.get("cmdline"):
        boot["cmdline"] = f"{boot['cmdline']} {record['cmdline']}"
    return boot, flists.share_args(root)


async def launch(ctx: Context, params: dict[str, Any], incoming: str | None = None,
                 again: Vm | None = None) -> Vm:
    """Start a qemu for `params` and watch it; a failure leaves nothing behind (for `again`,
    a halted VM started anew, its record stays, still halted)."""
    uuid = params["uuid"]
    if again is None:
        if REGISTRY.get(uuid) is not None:
            raise BuiltinError(412, f"a VM with uuid {uuid} already exists on this node")
        if REGISTRY.by_name(params["name"]) is not None:
            raise BuiltinError(412, f"a VM named '{params['name']}' already exists on this node")
    directory = vms.vms_dir(ctx.config) / uuid
    directory.mkdir(parents=True, exist_ok=again is not None)
    record = {**(again.record if again else {}), **params, "node": ctx.node_id,
              "state": None if again is None else again.record.get("state"), "pid": None}
    vm = again or Vm(directory, record)
    vm.record = record
    vm.leaving = False
    REGISTRY.vms[uuid] = vm  # reserved before the first await: a concurrent create sees it
    try:
        record["accel"] = await asyncio.to_thread(qemu.choose_accel, params.get("accel"))
        accel = record["accel"]
        blockdevs, devices, disks = await asyncio.to_thread(disk_specs, params["media"])
        record["disks"], record["next_disk"] = disks, len(disks)
        record["nics"] = [dict(n) for n in record.get("nics") or []]
        vm.save()
        boot = {key: params.get(key) for key in ("kernel", "initrd", "cmdline")}
        extra: list[str] = []
        if params.get("flist"):
            boot, extra = await asyncio.to_thread(_flist_boot, ctx, record, directory)
        netdevs, nic_devices = await asyncio.to_thread(plug_nics, ctx, record)
        argv = qemu.qemu_argv(uuid=uuid, name=params["name"], cpu=params["cpu"], memory=params["memory"],
                              accel=accel, directory=directory, blockdevs=blockdevs,
                              devices=devices + nic_devices, netdevs=netdevs,
                              kernel=boot["kernel"], initrd=boot.get("initrd"),
                              cmdline=boot.get("cmdline"), incoming=incoming, extra=extra)
        argv = in_namespace(record.get("namespace"), argv)
        vm.save()
        ports = {int(h): g for h, g in (record.get("port") or {}).items()}
        await asyncio.to_thread(net.add_forwards, uuid, default_ip(record), ports, record.get("namespace"))
        record["pid"] = await asyncio.to_thread(qemu.start, argv, directory)
        record["state"] = "paused" if incoming else "running"
        vm.save()
        vms.start_watcher(ctx.agent, vm, await vms.connect_events(vm))
    except BaseException:
        vm.leaving = True
        pid = record.get("pid") or qemu.read_pid(directory)
        if pid:
            await asyncio.to_thread(qemu.kill, pid, uuid)
        await asyncio.to_thread(vms.release, vm)
        if again is None:
            REGISTRY.forget(vm)
        raise
    return vm


async def end(vm: Vm, graceful: float = 0.0) -> str:
    """Stop the VM's qemu: ACPI power-down and up to `graceful` seconds for the guest, then
    `quit`, then SIGKILL. Returns how it ended."""
    how = "destroyed"
    if vm.alive() and graceful > 0:
        with contextlib.suppress(BuiltinError):
            await vm.execute("system_powerdown", timeout=5)
            if await asyncio.to_thread(qemu.wait_gone, vm.pid, vm.uuid, graceful):
                how = "guest powered off"
        if how != "guest powered off":
            how = f"guest did not power off within {graceful:g} s: stopped"
    if vm.alive():
        with contextlib.suppress(BuiltinError):
            await vm.execute("quit", timeout=5)
        if not await asyncio.to_thread(qemu.wait_gone, vm.pid, vm.uuid, 5.0):
            await asyncio.to_thread(qemu.kill, vm.pid, vm.uuid)
    if vm.watcher is not None:
        vm.watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await vm.watcher
        vm.watcher = None
    await asyncio.to_thread(vms.release, vm)
    return how


# -- commands ------------------------------------------------------------------------------
@builtin("kvm.create")
async def create(args: dict, ctx: Context) -> str:
    params = parse_create(args)
    tags = getattr(getattr(ctx.job, "cmd", None), "tags", None)
    if tags:  # upstream: the VM's tags are the command's
        params["tags"] = list(tags)
    vm = await launch(ctx, params)
    ctx.emit("vm.created", "vm", vm.uuid, {
        "uuid": vm.uuid, "name": params["name"], "node": ctx.node_id, "cpu": params["cpu"],
        "memory": params["memory"], "media": params["media"], "nics": params["nics"],
        "accel": vm.record["accel"], "pid": vm.pid, "tags": params["tags"], "flist": params["flist"]})
    vms.announce(vm.uuid, params["name"], "started", "booted")
    return vm.uuid


@builtin("kvm.start")
async def start(args: dict, ctx: Context) -> None:
    """Start a halted VM again with the parameters it was created with (an extension: upstream's
    VMs were transient; the orchestrator's `start` needs it)."""
    vm = find(args)
    async with vm.lock:
        if vm.alive():
            raise BuiltinError(412, f"VM {vm.uuid} is already running")
        params = {key: vm.record.get(key) for key in PARAMS}
        await launch(ctx, params, again=vm)
        vm.record["state"] = "shutoff"
        await vms.set_state(ctx.agent, vm, "running", "start", ctx.emit)


@builtin("kvm.destroy")
async def destroy(args: dict, ctx: Context) -> None:
    vm = find(args)
    async with vm.lock:
        vm.leaving = True
        how = await end(vm)
        REGISTRY.forget(vm)
    ctx.emit("vm.destroyed", "vm", vm.uuid, {"uuid": vm.uuid, "node": ctx.node_id, "reason": how})
    vms.announce(vm.uuid, vm.record.get("name", ""), "stopped", "destroyed")


@builtin("kvm.shutdown")
async def shutdown(args: dict, ctx: Context) -> None:
    """ACPI power-down, then up to `timeout` seconds (default 30) before qemu is stopped;
    `timeout` 0 stops qemu at once (the API's `stop`)."""
    vm = running(args)
    wait = arg(args, "timeout", "float", SHUTDOWN_WAIT)
    async with vm.lock:
        vm.leaving = True
        try:
            how = await end(vm, graceful=max(wait, 0.0))
            how = "stopped" if wait <= 0 else how
        finally:
            vm.leaving = False
        await vms.set_state(ctx.agent, vm, "shutoff", how, ctx.emit)


async def _simple(args: dict, ctx: Context, command: str, events: tuple[str, ...], state: str,
                  reason: str) -> None:
    vm = running(args)
    async with vm.lock:
        vm.expect(*events)
        try:
            await vm.execute(command)
        except BuiltinError as exc:
            for event in events:
                with contextlib.suppress(ValueError):
                    vm.expected.remove(event)
            raise BuiltinError(exc.code, f"failed to {reason} machine: {exc.message}") from None
        await vms.set_state(ctx.agent, vm, state, reason, ctx.emit)


@builtin("kvm.pause")
async def pause(args: dict, ctx: Context) -> None:
    await _simple(args, ctx, "stop", ("STOP",), "paused", "pause")


@builtin("kvm.resume")
async def resume(args: dict, ctx: Context) -> None:
    await _simple(args, ctx, "cont", ("RESUME",), "running", "resume")


@builtin("kvm.reset")
async def reset(args: dict, ctx: Context) -> None:
    await _simple(args, ctx, "system_reset", ("RESET",), "running", "reset")


@builtin("kvm.reboot")
async def reboot(args: dict, ctx: Context) -> None:
    # qemu has no guest-cooperative reboot request; upstream's libvirt default is a reset too
    await _simple(args, ctx, "system_reset", ("RESET",), "running", "reboot")


async def describe(vm: Vm, index: int) -> dict[str, Any]:
    record = vm.record
    params = {key: record.get(key) for key in ("name", "cpu", "memory", "flist", "mount", "media",
                                               "config", "nics", "port", "tags")}
    return {"id": index, "uuid": vm.uuid, "name": record.get("name"), "state": await vms.live_state(vm),
            "vnc": -1, "tags": record.get("tags") or [],
            "ifctargets": [n.get("tap") for n in record.get("nics") or [] if n.get("tap")],
            "default_ip": default_ip(record),
            "accel": record.get("accel"), "params": params}


@builtin("kvm.list")
async def list_vms(args: dict, ctx: Context) -> list[dict[str, Any]]:
    return [await describe(vm, i) for i, vm in enumerate(sorted(REGISTRY.vms.values(),
                                                               key=lambda v: v.record.get("name", "")), 1)]


@builtin("kvm.get")
async def get(args: dict, ctx: Context) -> dict[str, Any]:
    has_uuid, has_name = bool(args.get("uuid")), bool(args.get("name"))
    if has_uuid == has_name:
        raise BuiltinError(400, "Must supply either Name or UUID")
    vm = find(args) if has_uuid else REGISTRY.by_name(arg(args, "name", "str"))
    if vm is None:
        raise BuiltinError(404, f"couldn't find domain with the name {args.get('name')}")
    ordered = sorted(REGISTRY.vms.values(), key=lambda v: v.record.get("name", ""))
    return await describe(vm, ordered.index(vm) + 1)


def _cpu_times(pid: int, thread_ids: list[int]) -> list[dict[str, Any]]:
    ticks = 100
    out = []
    for tid in thread_ids:
        try:
            fields = Path(f"/proc/{pid}/task/{tid}/stat").read_text().rsplit(")", 1)[1].split()
            time_ns = (int(fields[11]) + int(fields[12])) * 1_000_000_000 // ticks
        except (OSError, IndexError, ValueError):
            time_ns = 0
        out.append({"State": 1, "Time": time_ns})
    return out


async def stats(vm: Vm) -> dict[str, Any]:
    """Counters from QMP: vcpu times, per-disk block stats (upstream's Go field names)."""
    cpus = await vm.execute("query-cpus-fast")
    blocks = await vm.execute("query-blockstats")
    balloon_mib = vm.record.get("memory")
    block = []
    for item in blocks:
        s = item.get("stats", {})
        qdev = item.get("qdev") or ""
        name = qdev.split("/")[3] if qdev.startswith("/machine/peripheral/") else (
            qdev or item.get("node-name") or item.get("device"))
        block.append({"Name": name,
                      "RdBytes": s.get("rd_bytes", 0), "RdTimes": s.get("rd_operations", 0),
                      "WrBytes": s.get("wr_bytes", 0), "WrTimes": s.get("wr_operations", 0)})
    vcpu = await asyncio.to_thread(_cpu_times, vm.pid, [c.get("thread-id", 0) for c in cpus])
    return {"Vcpu": vcpu, "Net": [], "Block": block, "Memory": balloon_mib, "accel": vm.record.get("accel")}


@builtin("kvm.info")
async def info(args: dict, ctx: Context) -> dict[str, Any]:
    return await stats(running(args))


async def sample(agent: Any, vm: Vm) -> dict[str, Any]:
    """One monitor sample of a VM: fed to the agent's aggregator (kvm.* keys, id = uuid)
    and published on `zos.io.vm.<uuid>`."""
    found = await stats(vm)
    # keys as upstream's monitor (`id` = the VM, `<vm>.<disk>`, `<vm>.<vcpu>`); `vm` lets
    # kvm.infops find every metric of one VM
    tags = {"id": vm.uuid, "type": "virt", "vm": vm.uuid}
    feed = agent.aggregator.feed
    feed("kvm.memory.max", found["Memory"] or 0, "A", tags)
    feed("kvm.cpu.time", sum(c["Time"] for c in found["Vcpu"]) / 1e9, "D", tags)
    for nr, cpu in enumerate(found["Vcpu"]):
        feed("kvm.vcpu.time", cpu["Time"] / 1e9, "D", {**tags, "id": f"{vm.uuid}.{nr}", "nr": str(nr)})
    for disk in found["Block"]:
        dtags = {**tags, "id": f"{vm.uuid}.{disk['Name']}"}
        feed("kvm.disk.rdbytes", disk["RdBytes"], "D", dtags)
        feed("kvm.disk.wrbytes", disk["WrBytes"], "D", dtags)
        feed("kvm.disk.iops.read", disk["RdTimes"], "D", dtags)
        feed("kvm.disk.iops.write", disk["WrTimes"], "D", dtags)
    payload = {"uuid": vm.uuid, "node": agent.node_id, "cpu_time_ns": sum(c["Time"] for c in found["Vcpu"]),
               "block": found["Block"], "net": found["Net"]}
    try:
        await agent.bus.publish(io_subject("vm", vm.uuid), encode_value(payload), type="io.vm")
    except Exception as exc:  # statistics are best effort
        log.warning("cannot publish I/O statistics of VM %s: %s", vm.uuid, exc)
    return payload


@builtin("kvm.monitor")
async def monitor(args: dict, ctx: Context) -> None:
    for vm in list(REGISTRY.vms.values()):
        if vm.alive():
            with contextlib.suppress(BuiltinError):
                await sample(ctx.agent, vm)


@builtin("kvm.infops")
async def infops(args: dict, ctx: Context) -> dict[str, Any]:
    vm = find(args)
    return ctx.agent.aggregator.query(tags={"vm": vm.uuid})


@builtin("kvm.events")
async def events(args: dict, ctx: Context) -> None:
    """Runs until killed: each VM lifecycle change on this node becomes a level-20 message
    `{"uuid", "name", "event", "detail", "sequence"}` (upstream's job of the same name; read it
    with stream=True or `core.subscribe`). The same changes are domain events on the bus."""
    queue: asyncio.Queue = asyncio.Queue()
    vms.LISTENERS.append(queue)
    try:
        while True:
            body = await queue.get()
            await ctx.agent.jobs.emit(ctx.job, Message(20, json.dumps(body)))
    finally:
        vms.LISTENERS.remove(queue)


# -- agent start: re-adopt -----------------------------------------------------------------
@service
async def adopt(agent: Any) -> None:
    for vm in REGISTRY.load(agent.config):
        if vm.alive():
            try:
                connection = await vms.connect_events(vm)
            except BuiltinError as exc:
                log.warning("VM %s: qemu pid %s runs but QMP does not answer: %s", vm.uuid, vm.pid, exc)
                continue
            vms.start_watcher(agent, vm, connection)
            state = await vms.live_state(vm)
            vm.record["state"] = state
            vm.save()
            await agent.record("vm.adopted", "vm", vm.uuid, {
                "uuid": vm.uuid, "name": vm.record.get("name", ""), "node": agent.node_id,
                "state": state, "pid": vm.pid})
        elif vm.record.get("state") != "shutoff":
            await asyncio.to_thread(vms.release, vm)
            await vms.set_state(agent, vm, "shutoff", "qemu exited while the agent was away")
    agent.spawn(_monitor_loop(agent))


async def _monitor_loop(agent: Any, interval: float = 30.0) -> None:
    while True:
        await asyncio.sleep(interval)
        for vm in list(REGISTRY.vms.values()):
            if vm.alive():
                with contextlib.suppress(Exception):
                    await sample(agent, vm)




# -- hotplug -------------------------------------------------------------------------------
def _attached(vm: Vm, url: str) -> str | None:
    return next((device for device, medium in (vm.record.get("disks") or {}).items()
                 if medium["url"] == url), None)


async def _device_gone(vm: Vm, device: str, timeout: float) -> bool:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        try:
            await vm.execute("qom-get", {"path": f"/machine/peripheral/{device}", "property": "type"}, timeout=5)
        except BuiltinError:
            return True
        if asyncio.get_running_loop().time() > deadline:
            return False
        await asyncio.sleep(0.1)


@builtin("kvm.attach_disk")
async def attach_disk(args: dict, ctx: Context) -> None:
    vm = running(args)
    medium = media_.parse_medium(arg(args, "media", "dict"), "media")
    async with vm.lock:
        if _attached(vm, medium.url):
            raise BuiltinError(412, "The disk you tried is already attached to the vm")
        index = vm.record.get("next_disk", 0)
        node, device = f"drive{index}", f"disk{index}"
        fmt = None if medium.is_nbd else await asyncio.to_thread(file_format, medium.path)
        try:
            await vm.execute("blockdev-add", media_.blockdev(medium, node, fmt))
        except BuiltinError as exc:
            raise BuiltinError(exc.code, f"failed to attach device: {exc.message}") from None
        try:
            await vm.execute("device_add", media_.device(medium, node, device, boot=False))
        except BuiltinError as exc:
            with contextlib.suppress(BuiltinError):
                await vm.execute("blockdev-del", {"node-name": node})
            raise BuiltinError(exc.code, f"failed to attach device: {exc.message}") from None
        vm.record.setdefault("disks", {})[device] = medium.as_dict()
        vm.record["next_disk"] = index + 1
        vm.record["media"] = [*vm.record.get("media", []), medium.as_dict()]
        vm.save()
    ctx.emit("vm.disk_attached", "vm", vm.uuid, {"uuid": vm.uuid, "node": ctx.node_id,
                                                 "media": medium.as_dict(), "device": device})


@builtin("kvm.detach_disk")
async def detach_disk(args: dict, ctx: Context) -> None:
    vm = running(args)
    medium = media_.parse_medium(arg(args, "media", "dict"), "media")
    wait = arg(args, "timeout", "float", 10.0)
    async with vm.lock:
        device = _attached(vm, medium.url)
        if device is None:
            raise BuiltinError(404, "The disk you tried is not attached to the vm")
        try:
            await vm.execute("device_del", {"id": device})
        except BuiltinError as exc:
            raise BuiltinError(exc.code, f"failed to detach device: {exc.message}") from None
        if not await _device_gone(vm, device, wait):
            raise BuiltinError(500, f"failed to detach device: timeout (the guest did not release "
                                    f"{device} within {wait:g} s)")
        with contextlib.suppress(BuiltinError):
            await vm.execute("blockdev-del", {"node-name": f"drive{device[len('disk'):]}"})
        gone = vm.record["disks"].pop(device)
        vm.record["media"] = [m for m in vm.record.get("media", []) if m["url"] != gone["url"]]
        vm.save()
    ctx.emit("vm.disk_detached", "vm", vm.uuid, {"uuid": vm.uuid, "node": ctx.node_id,
                                                 "media": gone, "device": device})


@builtin("kvm.limit_disk_io")
async def limit_disk_io(args: dict, ctx: Context) -> None:
    vm = running(args)
    medium = media_.parse_medium(arg(args, "media", "dict"), "media")
    iotune = media_.iotune_args(args)
    device = _attached(vm, medium.url)
    if device is None:
        raise BuiltinError(404, "The disk you tried is not attached to the vm")
    group = arg(args, "groupname", "str", "")
    qdev = device if vm.record["disks"][device].get("bus") == "ide" else f"/machine/peripheral/{device}/virtio-backend"
    try:
        await vm.execute("block_set_io_throttle", {"id": qdev, **iotune, **({"group": group} if group else {})})
    except BuiltinError as exc:
        raise BuiltinError(exc.code, f"failed to tune disk: {exc.message}") from None
    vm.record.setdefault("iotune", {})[device] = iotune
    vm.save()
    ctx.emit("vm.disk_limited", "vm", vm.uuid, {"uuid": vm.uuid, "node": ctx.node_id, "device": device,
                                                "iotune": iotune})


# -- live migration ------------------------------------------------------------------------
def _target_node(desturi: str) -> str:
    """`desturi` names the target agent: its node id, or `zos://<node id>`."""
    node = desturi[len("zos://"):] if desturi.startswith("zos://") else desturi
    if not node or "/" in node or ":" in node:
        raise BuiltinError(400, f"argument 'desturi' has value '{desturi}': not a node id (or zos://<node>)")
    return node


@builtin("kvm.prepare_migration_target")
async def prepare_migration_target(args: dict, ctx: Context) -> dict[str, Any]:
    """Run on the target: a qemu with the VM's parameters waiting for the incoming state on
    `host` (default loopback) and `migration_port` (default: a free one). Returns {uri}. (Upstream took only nics and
    port and lost the rest; the source sends everything here.)"""
    params = parse_create(args)
    host = arg(args, "host", "str", "127.0.0.1")
    port = arg(args, "migration_port", "int", 0) or free_port()
    uri = f"tcp:{host}:{port}"
    await launch(ctx, params, incoming=uri)
    return {"uri": uri}


async def _migration_done(vm: Vm, timeout: float) -> dict[str, Any]:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        status = await vm.execute("query-migrate", timeout=10)
        if status.get("status") in ("completed", "failed", "cancelled"):
            return status
        if asyncio.get_running_loop().time() > deadline:
            with contextlib.suppress(BuiltinError):
                await vm.execute("migrate_cancel")
            return {"status": "failed", "error-desc": f"not done within {timeout:g} s"}
        await asyncio.sleep(0.1)


@builtin("kvm.migrate")
async def migrate(args: dict, ctx: Context) -> None:
    """Live-migrate to another agent: it prepares a waiting qemu, this qemu streams its state,
    then this one ends and `vm.migrated` moves the VM to the target."""
    vm = running(args)
    target = _target_node(arg(args, "desturi", "str"))
    if target == ctx.node_id:
        raise BuiltinError(400, f"argument 'desturi': the VM already runs on node '{target}'")
    timeout = arg(args, "timeout", "float", 300.0)
    params = {key: vm.record.get(key) for key in PARAMS if vm.record.get(key) is not None}
    params["accel"] = vm.record.get("accel")
    async with vm.lock:
        prepared = await call(ctx.agent.bus, target, "kvm.prepare_migration_target", params, timeout=120)
        if not prepared.ok:
            raise BuiltinError(prepared.code if prepared.code in (400, 404, 412) else 500,
                               f"failed to migrate machine: target {target}: {prepared.value()}")
        uri = prepared.value()["uri"]
        vm.expect("STOP")
        try:
            await vm.execute("migrate", {"uri": uri})
            status = await _migration_done(vm, timeout)
        except BaseException:
            status = {"status": "failed", "error-desc": "migrate command failed"}
            raise
        finally:
            if status.get("status") != "completed":
                with contextlib.suppress(ValueError):
                    vm.expected.remove("STOP")
                with contextlib.suppress(Exception):
                    await call(ctx.agent.bus, target, "kvm.destroy", {"uuid": vm.uuid}, timeout=60)
        if status["status"] != "completed":
            raise BuiltinError(500, f"failed to migrate machine: {status.get('error-desc', status['status'])}")
        vm.leaving = True
        await end(vm)
        REGISTRY.forget(vm)
    ctx.emit("vm.migrated", "vm", vm.uuid, {"uuid": vm.uuid, "source": ctx.node_id, "target": target,
                                            "node": target})
    vms.announce(vm.uuid, vm.record.get("name", ""), "stopped", "migrated")


# -- nics and port forwards ----------------------------------------------------------------
def _same_nic(nic: dict[str, Any], wanted: dict[str, Any]) -> bool:
    if nic.get("type") != wanted.get("type"):
        return False
    if wanted.get("type") != "default" and str(nic.get("id") or "") != str(wanted.get("id") or ""):
        return False
    return not wanted.get("hwaddr") or nic.get("hwaddr", "").lower() == str(wanted["hwaddr"]).lower()


@builtin("kvm.add_nic")
async def add_nic(args: dict, ctx: Context) -> None:
    vm = running(args)
    wanted = {"type": args.get("type"), "id": args.get("id") or "", "hwaddr": args.get("hwaddr") or ""}
    async with vm.lock:
        nics = vm.record.setdefault("nics", [])
        if wanted["type"] == "default" and any(n.get("type") == "default" for n in nics):
            raise BuiltinError(412, "The default nic is already attached to the vm")
        if any(_same_nic(n, {**wanted, "hwaddr": ""}) for n in nics):
            raise BuiltinError(412, "This nic is already attached to the vm")
        index = vm.record.get("next_nic", len(nics))
        if wanted["type"] == "default" and not vm.record.get("seq"):
            vm.record["seq"] = net.next_seq({v.record.get("seq") for v in REGISTRY.vms.values()} - {None})
        nic = net.parse_nic(wanted, "nic", vm.uuid, index, vm.record.get("seq") or 0)
        namespace = vm.record.get("namespace")
        await asyncio.to_thread(net.plug, ctx, nic, namespace, vm.record.get("seq") or 0)
        try:
            await vm.execute("netdev_add", net.netdev(nic))
            try:
                await vm.execute("device_add", net.device(nic))
            except BuiltinError:
                with contextlib.suppress(BuiltinError):
                    await vm.execute("netdev_del", {"id": f"net-{nic.device}"})
                raise
        except BuiltinError as exc:
            await asyncio.to_thread(net.unplug, nic.tap, namespace)
            raise BuiltinError(exc.code, f"failed to add nic: {exc.message}") from None
        nics.append({**wanted, **nic.as_dict(), "device": nic.device})
        vm.record["next_nic"] = index + 1
        vm.save()
    ctx.emit("vm.nic_added", "vm", vm.uuid, {"uuid": vm.uuid, "node": ctx.node_id,
                                             "nic": nic.as_dict(), "device": nic.device})


@builtin("kvm.remove_nic")
async def remove_nic(args: dict, ctx: Context) -> None:
    vm = running(args)
    wanted = {"type": args.get("type"), "id": args.get("id") or "", "hwaddr": args.get("hwaddr") or ""}
    async with vm.lock:
        nics = vm.record.get("nics") or []
        found = next((n for n in nics if _same_nic(n, wanted)), None)
        if found is None:
            raise BuiltinError(404, "The nic you tried is not attached to the vm")
        device = found.get("device") or f"nic{nics.index(found)}"
        try:
            await vm.execute("device_del", {"id": device})
        except BuiltinError as exc:
            raise BuiltinError(exc.code, f"failed to remove nic: {exc.message}") from None
        if not await _device_gone(vm, device, arg(args, "timeout", "float", 10.0)):
            raise BuiltinError(500, "failed to remove nic: timeout")
        with contextlib.suppress(BuiltinError):
            await vm.execute("netdev_del", {"id": f"net-{device}"})
        await asyncio.to_thread(net.unplug, found["tap"], vm.record.get("namespace"))
        nics.remove(found)
        vm.save()
    gone = {k: found[k] for k in ("type", "id", "hwaddr", "tap") if k in found}
    ctx.emit("vm.nic_removed", "vm", vm.uuid, {"uuid": vm.uuid, "node": ctx.node_id, "nic": gone,
                                               "device": device})


def _port_args(args: dict[str, Any]) -> tuple[int, int]:
    host = args.get("host_port")
    forwards = net.ports_arg({str(host): args.get("container_port")})
    return next(iter(forwards.items()))


@builtin("kvm.portforward-add")
async def portforward_add(args: dict, ctx: Context) -> None:
    vm = running(args)
    host, guest = _port_args(args)
    ip = default_ip(vm.record)
    if not ip:
        raise BuiltinError(400, "KVM doesn't have a default nic")
    async with vm.lock:
        await asyncio.to_thread(net.add_forwards, vm.uuid, ip, {host: guest}, vm.record.get("namespace"))
        vm.record.setdefault("port", {})[str(host)] = guest
        vm.save()


@builtin("kvm.portforward-remove")
async def portforward_remove(args: dict, ctx: Context) -> None:
    vm = find(args)
    host, _ = _port_args(args)
    async with vm.lock:
        removed = await asyncio.to_thread(net.remove_forwards, vm.uuid, vm.record.get("namespace"), host)
        if not removed and str(host) not in (vm.record.get("port") or {}):
            raise BuiltinError(404, f"no port forward from host port {host} to VM {vm.uuid}")
        (vm.record.get("port") or {}).pop(str(host), None)
        vm.save()
