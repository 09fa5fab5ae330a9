"""A node-agent simulator for the API tests (spec A7: "a fake node that answers commands").

It consumes `zos.cmd.<node>.>` and records job.accepted / job.started / job.finished with
0-core results for the builtins the API uses: core.ping, core.state, info.*, disk.*,
process.list/kill, job.kill/killall, bridge.create/delete, and `core.system` with name
`sleep` (runs until killed). Like the real agent, bridge.create / bridge.delete record
`bridge.created` / `bridge.deleted` (caused by the job.accepted) before the job.finished.
Run: python -m tests.projections._fake_node NATS_URL NODE_ID
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import time
from typing import Any

from zos.bus import Delivered, connect, node_commands_filter
from zos.events import command_from_event, new_event


class Fail(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


HOSTED = {"storagepool", "btrfs", "corex", "kvm", "cgroup"}  # families answered with 404


class FakeNode:
    def __init__(self, bus: Any, node: str) -> None:
        self.bus = bus
        self.node = node
        self.bridges: set[str] = set()
        self.processes = {1: "init", 4242: "sleep 1000", 4343: "sleep 2000"}
        self.sleepers: dict[str, asyncio.Future] = {}

    async def boot(self) -> None:
        await self.bus.append(new_event("node.booted", "node", self.node, {
            "node": self.node, "hostname": f"host-{self.node}", "kernel": "6.1.0-fake", "cpus": 2,
            "memory": 4 << 30, "version": "fake 1.0", "disks": [{"name": "vda", "size": 10 << 30}],
            "nics": [{"name": "lo", "addrs": [{"addr": "127.0.0.1/8"}]},
                     {"name": "eth0", "addrs": [{"addr": "10.9.8.7/24"}], "mtu": 1500,
                      "hardwareaddr": "52:54:00:12:34:56", "flags": ["up"]}],
            "info": {"hostname": f"host-{self.node}", "os": "linux", "procs": 3}}))

    async def handle(self, item: Delivered) -> None:
        cmd = command_from_event(item.event)
        job = cmd.id
        accepted = new_event("job.accepted", "job", job, {"node": self.node, "command": cmd.to_dict()})
        await self.bus.append(accepted)
        start = int(time.time() * 1000)
        await self.bus.append(new_event("job.started", "job", job, {
            "node": self.node, "command": cmd.command, "pid": 0, "attempt": 1, "starttime": start}))
        if cmd.command == "core.system" and cmd.arguments.get("name") == "sleep":
            asyncio.get_running_loop().create_task(self.sleep(cmd, start))
            return
        changes: list[tuple[str, str, dict[str, Any]]] = []
        try:
            value = await self.builtin(cmd.command, cmd.arguments, changes)
            result = {"state": "SUCCESS", "code": 0, "data": json.dumps(value)}
        except Fail as exc:
            result = {"state": "ERROR", "code": exc.code, "data": json.dumps(str(exc))}
        except KeyError:
            result = {"state": "UNKNOWN_CMD", "code": 0, "data": ""}
        for type_, name, data in changes:
            await self.bus.append(accepted.caused(type_, "bridge", f"{self.node}-{name}",
                                                  {**data, "job": job}, actor=f"node:{self.node}"))
        await self.finish(cmd, start, {**result, "level": 20, "streams": ["", ""]})

    async def finish(self, cmd: Any, start: int, result: dict[str, Any]) -> None:
        await self.bus.append(new_event("job.finished", "job", cmd.id, {"node": self.node, "result": {
            "id": cmd.id, "command": cmd.command, "starttime": start, "time": 1, "tags": cmd.tags,
            "container": 0, **result}}))

    async def sleep(self, cmd: Any, start: int) -> None:
        done = asyncio.get_running_loop().create_future()
        self.sleepers[cmd.id] = done
        await done
        await self.finish(cmd, start, {"state": "ERROR", "code": 999, "data": "", "level": 0,
                                       "streams": ["", "killed\n"]})

    async def builtin(self, name: str, args: dict[str, Any],
                      changes: list[tuple[str, str, dict[str, Any]]]) -> Any:
        if name == "core.ping":
            return "PONG Version: fake @Revision: 0"
        if name == "core.state":
            return {"cpu": 1.5, "rss": 1000, "vms": 2000, "swap": 0, "debug": ""}
        if name == "info.cpu":
            return [{"cpu": 0, "cores": 1, "family": "6", "mhz": 2400.0, "cacheSize": 4096,
                     "flags": ["fpu"], "modelName": "fake"}]
        if name == "info.mem":
            return {"total": 4 << 30, "available": 2 << 30, "used": 2 << 30, "usedPercent": 50.0,
                    "free": 1 << 30, "active": 1, "inactive": 2, "wired": 0, "buffers": 3, "cached": 4}
        if name == "info.nic":
            return [{"name": "eth0", "mtu": 1500, "hardwareaddr": "52:54:00:12:34:56",
                     "flags": ["up"], "addrs": [{"addr": "10.9.8.7/24"}], "speed": 1000}]
        if name == "info.os":
            return {"hostname": f"host-{self.node}", "uptime": 10, "bootTime": 1, "procs": 3,
                    "os": "linux", "platform": "fake", "platformFamily": "fake",
                    "platformVersion": "1", "virtualizationSystem": "", "virtualizationRole": ""}
        if name == "disk.list":
            return [{"name": "vda", "size": 10 << 30, "type": "disk"}]
        if name == "disk.mounts":
            return {"/dev/vda1": [{"mountpoint": "/", "filesystem": "ext4", "options": "rw"}]}
        if name == "aggregator.query":
            return {"machine.CPU.percent": {"current": {"300": {"avg": 1.0}}}}
        if name == "process.list":
            pid = args.get("pid")
            if pid:
                if pid not in self.processes:
                    raise Fail(404, f"no process with pid {pid}")
                return [self.proc(pid)]
            return [self.proc(p) for p in sorted(self.processes)]
        if name == "process.kill":
            pid = int(args.get("pid") or 0)
            if pid <= 1:
                raise Fail(400, "refusing to signal pid <= 1")
            if pid not in self.processes:
                raise Fail(404, f"no process with pid {pid}")
            del self.processes[pid]
            return None
        if name == "job.kill":
            waiter = self.sleepers.pop(str(args.get("id")), None)
            if waiter is None:
                return False
            waiter.set_result(None)
            return True
        if name == "job.killall":
            for waiter in self.sleepers.values():
                waiter.set_result(None)
            self.sleepers.clear()
            return True
        if name == "bridge.create":
            bridge = args.get("name")
            if bridge in self.bridges:
                raise Fail(409, f"bridge '{bridge}' exists")
            self.bridges.add(bridge)
            network = args.get("network") or {}
            mode = network.get("mode") or ""
            settings = network.get("settings") or {}
            used = {"": (), "static": ("cidr",), "dnsmasq": ("cidr", "start", "end")}[mode]
            changes.append(("bridge.created", bridge, {
                "node": self.node, "name": bridge, "hwaddr": args.get("hwaddr") or "", "mode": mode,
                "nat": bool(network.get("nat")), "settings": {k: str(settings[k]) for k in used}}))
            return None
        if name == "bridge.delete":
            if args.get("name") not in self.bridges:
                raise Fail(404, f"no bridge '{args.get('name')}'")
            self.bridges.discard(args.get("name"))
            changes.append(("bridge.deleted", args["name"], {"node": self.node, "name": args["name"]}))
            return None
        if name.split(".")[0] in HOSTED:
            # This node has no disks, pools, containers or VMs: a create names a missing device
            # or flist, anything else a missing object, as a real node would answer.
            raise Fail(404, f"{name}: nothing of that name on fake node {self.node}")
        raise KeyError(name)

    def proc(self, pid: int) -> dict[str, Any]:
        return {"pid": pid, "ppid": 0, "cmdline": self.processes[pid], "name": "x", "cpu": {"user": 0.1},
                "rss": 100, "vms": 200, "swap": 0}


async def main(url: str, node: str) -> None:
    bus = await connect(url, actor=f"node:{node}")
    fake = FakeNode(bus, node)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    await fake.boot()
    print("ready", flush=True)
    while not stop.is_set():
        try:
            await bus.consume(node_commands_filter(node), f"fake-{node}", fake.handle, stop=stop)
        except TimeoutError:
            # nats-py's fetch() can raise the builtin TimeoutError, which Bus.consume does not
            # catch yet (reported to the backbone); the durable consumer resumes where it was.
            continue
    await bus.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
