"""The API's answers against the orchestrator's contract (issue 12 §5): every route that
`raml/api.raml` of zero-os/0-orchestrator declares must answer in a shape its generated Python
client (`pyclient/zeroos/orchestrator/client/<Type>.py`) accepts.

The RAML types are transcribed below, each with its line in `raml/types.raml` at 9373a4a
(upstream HEAD, 2018-03-22). RAML 1.0 properties are required unless `required: false`
(written `name?` here). The generated client raises "missing required property" for a
required field that is absent or null, rejects enum values outside the list, demands a list
for arrays (`list_factory`), and builds nested objects as `<Type>(json=value)`, which refuses
an empty object ("No data or kwargs present"). Scalars are checked as their JSON types, which
is stricter than the client (it converts with `int(value)`, `str(value)`).

Runs a real `zos api serve` (SQLite and PostgreSQL), the test broker and the fake node.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
import uuid
from typing import Any
from collections.abc import Iterator

import httpx
import pytest

from zos.bus import connect
from zos.events import Event, new_event

from .conftest import start_api, stop, wait_until

STRING, INTEGER, NUMBER, BOOLEAN = "string", "integer", "number", "boolean"
GIB = 1 << 30

# RAML "type: number, format: int32|int64" is `integer` here (the client's datatype is int),
# "format: float" is `number` (float).
RAML: dict[str, dict[str, Any]] = {
    "Node": {  # types.raml:4
        "id": STRING, "ipaddress": STRING, "status": ("running", "halted"), "hostname": STRING},
    "CPUInfo": {  # types.raml:15
        "cacheSize": INTEGER, "cores": INTEGER, "family": STRING, "flags": "string[]",
        "mhz": NUMBER},
    "MemInfo": {  # types.raml:63
        "active": INTEGER, "available": INTEGER, "buffers": INTEGER, "cached": INTEGER,
        "free": INTEGER, "inactive": INTEGER, "total": INTEGER, "used": INTEGER,
        "usedPercent": NUMBER, "wired": INTEGER},
    "OSInfo": {  # types.raml:78
        "bootTime": INTEGER, "hostname": STRING, "os": STRING, "platform": STRING,
        "platformFamily": STRING, "platformVersion": STRING, "procs": INTEGER, "uptime": INTEGER,
        "virtualizationRole": STRING, "virtualizationSystem": STRING},
    "NicInfo": {  # types.raml:107
        "addrs": "string[]", "flags": "string[]", "hardwareaddr": STRING, "mtu": INTEGER,
        "name": STRING},
    "DiskInfo": {  # types.raml:121
        "device": STRING, "size": INTEGER, "type": ("ssd", "nvme", "hdd", "archive"),
        "partitions": "DiskPartition[]"},
    "DiskPartition": {  # types.raml:138
        "name": STRING, "size": INTEGER, "partuuid": STRING, "label": STRING, "fstype": STRING},
    "NodeMount": {  # types.raml:158
        "mountpoint": STRING, "device": STRING, "opts": STRING, "fstype": STRING},
    "BridgeCreateSetting": {  # types.raml:198
        "cidr": STRING, "start": STRING, "end": STRING},
    "CPUStats": {  # types.raml:270
        "user": NUMBER, "system": NUMBER, "idle": NUMBER, "nice": NUMBER, "ioWait": NUMBER,
        "irq": NUMBER, "softIrq": NUMBER, "steal": NUMBER, "guestNice": NUMBER, "stolen": NUMBER},
    "Process": {  # types.raml:312
        "cmdline": STRING, "cpu": "CPUStats", "pid": INTEGER, "rss": INTEGER, "swap": INTEGER,
        "vms": INTEGER},
    "Bridge": {  # types.raml:442
        "name": STRING, "setting": "BridgeCreateSetting", "status": ("up", "down")},
    "JobListItem": {  # types.raml:656
        "id": STRING, "startTime": INTEGER},
    "JobResult": {  # types.raml:668
        "id": STRING,
        "name": ("core.ping", "core.system", "core.kill", "core.killall", "core.state",
                 "core.reboot", "info.cpu", "info.disk", "info.mem", "info.nic", "info.os",
                 "container.create", "container.list", "container.dispatch",
                 "container.terminate", "bridge.create", "bridge.list", "bridge.delete",
                 "disk.list", "disk.mktable", "disk.mkpart", "disk.rmpart", "disk.mount",
                 "disk.umount", "btrfs.create", "btrfs.list", "btrfs.subvol_create",
                 "btrfs.subvol_list", "btrfs.subvol_delete"),
        "level": INTEGER, "startTime": INTEGER, "stdout": STRING, "stderr": STRING,
        "state": ("unknown_cmd", "error", "success", "killed", "timeout", "duplicate_id",
                  "running"),
        "data": STRING},
    "CoreStateResult": {  # types.raml:705
        "cpu": NUMBER, "rss": INTEGER, "vms": INTEGER, "swap": INTEGER},
    "StorageServer": {  # types.raml:989
        "id": INTEGER, "ip": STRING, "port": INTEGER, "container": STRING,
        "status": ("ready", "error")},
    "Cluster": {  # types.raml:1056
        "label": STRING, "status": ("empty", "deploying", "ready", "error"),
        "driveType": ("nvme", "ssd", "hdd", "archive"), "nodes": "string[]",
        "storageServers": "StorageServer[]", "clusterType": STRING},
    "Vdisk": {  # types.raml:1140
        "id": STRING, "status": ("running", "halted", "rollingback"), "size": INTEGER,
        "blocksize": INTEGER, "type": ("boot", "db", "cache", "tmp"), "readOnly?": BOOLEAN,
        "templatevdisk?": STRING, "vdiskstorage": STRING},
    "VdiskListItem": {  # types.raml:1168
        "id": STRING, "status": ("running", "halted", "rollingback"),
        "type": ("boot", "db", "cache", "tmp"), "vdiskstorage": STRING},
}

SCALARS = {
    STRING: lambda v: isinstance(v, str),
    INTEGER: lambda v: isinstance(v, int) and not isinstance(v, bool),
    NUMBER: lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    BOOLEAN: lambda v: isinstance(v, bool),
}


def violations(value: Any, spec: Any, where: str = "$") -> list[str]:
    """Why the generated client would refuse `value` as RAML type `spec` (empty: it accepts)."""
    if isinstance(spec, tuple):
        return [] if value in spec else [f"{where}: {value!r} is not one of the enum {spec}"]
    if spec.endswith("[]"):
        if not isinstance(value, list):
            return [f"{where}: {spec} must be a list, got {value!r}"]
        return [p for i, item in enumerate(value) for p in violations(item, spec[:-2], f"{where}[{i}]")]
    if spec in SCALARS:
        return [] if SCALARS[spec](value) else [f"{where}: {value!r} is not a RAML {spec}"]
    if not isinstance(value, dict) or not value:
        return [f"{where}: {spec} must be a non-empty object, got {value!r}"]
    problems = []
    for name, field in RAML[spec].items():
        key = name.removesuffix("?")
        if value.get(key) is None:
            if not name.endswith("?"):
                problems.append(f"{where}.{key}: {spec} misses required property {key}")
            continue
        problems += violations(value[key], field, f"{where}.{key}")
    return problems


class RamlViolation(AssertionError):
    """An answer the generated client would refuse (a distinct type, so that the expected
    failure below cannot pass for a timeout)."""


def check(resp: httpx.Response, spec: str) -> Any:
    """The body of a 200 answer that satisfies RAML type `spec`."""
    assert resp.status_code == 200, resp.text
    body = resp.json()
    problems = violations(body, spec)
    if problems:
        raise RamlViolation("\n".join(problems) + "\n" + json.dumps(body, indent=1))
    return body


def job_id(client: httpx.Client, node: str, command: str) -> str:
    """The id of a finished `command` job of `node`, once the jobs projection has it: direct
    reads (ping, process.list) answer before their job.finished is projected."""
    url = f"/nodes/{node}/jobs"

    def found() -> dict[str, Any] | None:
        return next((j for j in client.get(url).json() if j["name"] == command
                     and j["state"] != "running"), None)
    wait_until(lambda: found() is not None, 30, f"a finished {command} job")
    return found()["id"]


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def base(request: pytest.FixtureRequest, nats_url: str,
         tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if request.param == "sqlite":
        db = f"sqlite:///{tmp_path_factory.mktemp('raml') / 'api.db'}"
    else:
        db = request.getfixturevalue("pg_databases")()
    env = {**os.environ, "ZOS_NATS": nats_url, "ZOS_API_WAIT": "60",
           "ZOS_DATA": str(tmp_path_factory.mktemp("raml-data"))}
    proc, url = start_api(env, db, "--no-auth")
    try:
        yield url
    finally:
        stop(proc)


@pytest.fixture
def client(base: str, fake_node: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=base, timeout=60) as c:
        wait_until(lambda: c.get(f"/nodes/{fake_node}").status_code == 200, what="node projected")
        yield c


def publish(nats_url: str, events: list[Event]) -> None:
    async def run() -> None:
        bus = await connect(nats_url)
        await bus.append_many(events)
        await bus.close()
    asyncio.run(run())


def finished(node: str, command: str, value: Any) -> Event:
    """The `job.finished` a node records for a builtin that answered `value` (0-core wire form)."""
    job = uuid.uuid4().hex
    return new_event("job.finished", "job", job, {"node": node, "result": {
        "id": job, "command": command, "data": json.dumps(value), "streams": ["", ""],
        "level": 20, "state": "SUCCESS", "code": 0, "starttime": int(time.time() * 1000),
        "time": 1, "tags": None, "container": 0}})


def test_node_routes(client: httpx.Client, fake_node: str) -> None:
    """Every `/nodes` route upstream declares answers in its RAML type."""
    node = fake_node
    assert any(n["id"] == node for n in check(client.get("/nodes"), "Node[]"))
    check(client.get(f"/nodes/{node}"), "Node")
    check(client.get(f"/nodes/{node}/state"), "CoreStateResult")
    check(client.get(f"/nodes/{node}/cpus"), "CPUInfo[]")
    check(client.get(f"/nodes/{node}/mem"), "MemInfo")
    assert check(client.get(f"/nodes/{node}/nics"), "NicInfo[]")
    assert check(client.get(f"/nodes/{node}/disks"), "DiskInfo[]")
    check(client.get(f"/nodes/{node}/info"), "OSInfo")  # node.booted's info is partial: asked
    check(client.get(f"/nodes/{node}/mounts"), "NodeMount[]")

    procs = check(client.get(f"/nodes/{node}/processes"), "Process[]")
    assert procs and all(set(p["cpu"]) == set(RAML["CPUStats"]) for p in procs)
    sleeper = check(client.get(f"/nodes/{node}/processes/4242"), "Process")
    assert sleeper["cpu"]["user"] == 0.1 and sleeper["cpu"]["guestNice"] == 0.0

    assert client.post(f"/nodes/{node}/ping").json() is True
    ping = job_id(client, node, "core.ping")
    check(client.get(f"/nodes/{node}/jobs"), "JobListItem[]")
    check(client.get(f"/nodes/{node}/jobs/{ping}"), "JobResult")

    body = {"name": "r" + uuid.uuid4().hex[:8], "networkMode": "static",
            "setting": {"cidr": "10.88.0.1/24"}}
    assert client.post(f"/nodes/{node}/bridges", json=body).status_code == 201
    check(client.get(f"/nodes/{node}/bridges"), "Bridge[]")
    check(client.get(f"/nodes/{node}/bridges/{body['name']}"), "Bridge")


def test_agent_boot_names_are_not_served(client: httpx.Client, fake_node: str,
                                         nats_url: str) -> None:
    """The node agent's `node.booted` lists disk and nic names only (node/_sysinfo.py
    `boot_facts`) and has no `info`: the API asks the node for the objects the RAML wants."""
    node = fake_node
    publish(nats_url, [new_event("node.booted", "node", node, {
        "node": node, "hostname": f"agent-{node}", "kernel": "6.1.0", "cpus": 2,
        "memory": 4 << 30, "version": "Version: main @Revision: 0", "disks": ["vda"],
        "nics": ["eth0", "lo"]})])
    wait_until(lambda: client.get(f"/nodes/{node}").json()["hostname"] == f"agent-{node}",
               what="second boot projected")
    nics = check(client.get(f"/nodes/{node}/nics"), "NicInfo[]")
    assert nics == [{"addrs": ["10.9.8.7/24"], "flags": ["up"], "hardwareaddr": "52:54:00:12:34:56",
                     "mtu": 1500, "name": "eth0"}]  # the fake node's info.nic
    disks = check(client.get(f"/nodes/{node}/disks"), "DiskInfo[]")
    assert disks == [{"device": "/dev/vda", "size": 10, "type": "ssd", "partitions": []}]
    assert check(client.get(f"/nodes/{node}/info"), "OSInfo")["platform"] == "fake"


# What the agent's disk.list answers (lsblk --json --output-all --bytes, trimmed to the fields
# the mapping reads): `rota` is a JSON boolean in util-linux >= 2.33, "0"/"1" before.
LSBLK = [
    {"name": "sda", "size": 2000 * GIB, "rota": True, "type": "disk", "children": [
        {"name": "sda1", "size": 512 << 20, "rota": True, "type": "part", "fstype": "vfat",
         "label": "EFI", "partuuid": "0f1e-01"},
        {"name": "sda2", "size": 1999 * GIB, "rota": True, "type": "part", "fstype": None,
         "label": None, "partuuid": None}]},
    {"name": "sdb", "size": 8 * 1024 * GIB, "rota": "1", "type": "disk"},
    {"name": "nvme0n1", "size": 476 * GIB, "rota": False, "type": "disk", "children": []},
    {"name": "sdc", "size": 240 * GIB, "rota": "0", "type": "disk"},
]


def test_disks_from_lsblk(client: httpx.Client, fake_node: str, nats_url: str) -> None:
    """`disk.list` becomes DiskInfo[] by upstream's rules: /dev paths, whole GiB, hdd or (over
    7 TiB) archive when rotational, else nvme by name or ssd; absent lsblk fields are ""."""
    node = fake_node
    publish(nats_url, [finished(node, "disk.list", LSBLK)])
    wait_until(lambda: len(client.get(f"/nodes/{node}/disks").json()) == 4, what="disk.list projected")
    disks = check(client.get(f"/nodes/{node}/disks"), "DiskInfo[]")
    assert disks == [
        {"device": "/dev/sda", "size": 2000, "type": "hdd", "partitions": [
            {"name": "/dev/sda1", "size": 0, "partuuid": "0f1e-01", "label": "EFI", "fstype": "vfat"},
            {"name": "/dev/sda2", "size": 1999, "partuuid": "", "label": "", "fstype": ""}]},
        {"device": "/dev/sdb", "size": 8192, "type": "archive", "partitions": []},
        {"device": "/dev/nvme0n1", "size": 476, "type": "nvme", "partitions": []},
        {"device": "/dev/sdc", "size": 240, "type": "ssd", "partitions": []}]


def test_vdisks_and_clusters(client: httpx.Client, nats_url: str) -> None:
    """Vdisk list items carry `status` (halted until a disk server attaches the vdisk), and a
    storage cluster answers every field RAML `Cluster` requires."""
    tag = uuid.uuid4().hex[:8]
    cluster, idle, busy = f"c{tag}", f"vi{tag}", f"vb{tag}"

    def vdisk(name: str, type_: str) -> Event:
        return new_event("vdisk.created", "vdisk", name, {
            "name": name, "size": GIB, "block_size": 4096, "type": type_,
            "storage": f"cluster:{cluster}"})
    publish(nats_url, [
        new_event("storagecluster.created", "storagecluster", cluster, {"label": cluster, "servers": [
            {"address": "127.0.0.1:6379", "db": 1, "state": "online"},
            {"address": "", "db": 0, "state": "rip"}]}),
        vdisk(idle, "db"), vdisk(busy, "boot"),
        new_event("vdisk.attached", "vdisk", busy, {"name": busy, "server": "s1"})])
    wait_until(lambda: client.get(f"/vdisks/{busy}").status_code == 200
               and client.get(f"/vdisks/{busy}").json()["status"] == "running", what="vdisks projected")
    listed = {v["id"]: v for v in check(client.get("/vdisks"), "VdiskListItem[]")}
    assert listed[idle] == {"id": idle, "status": "halted", "type": "db",
                            "vdiskstorage": f"cluster:{cluster}"}
    assert listed[busy]["status"] == "running"
    assert check(client.get(f"/vdisks/{idle}"), "Vdisk")["status"] == "halted"
    assert cluster in check(client.get("/storageclusters"), "string[]")
    got = check(client.get(f"/storageclusters/{cluster}"), "Cluster")
    assert got == {"label": cluster, "status": "error", "driveType": "ssd", "nodes": [],
                   "clusterType": "block", "storageServers": [
                       {"id": 0, "ip": "127.0.0.1", "port": 6379, "db": 1, "container": "",
                        "status": "ready"},
                       {"id": 1, "ip": "", "port": 0, "db": 0, "container": "", "status": "error"}]}


@pytest.mark.xfail(strict=True, raises=RamlViolation, reason="left for the owner of routers/jobs.py: JobResult.name "
                   "passes the node's command name through, and RAML's enum (types.raml:675) is a "
                   "closed 2017 list without process.list, job.kill, disk.mounts, ...")
def test_job_result_name_outside_raml_enum(client: httpx.Client, fake_node: str) -> None:
    node = fake_node
    assert client.get(f"/nodes/{node}/processes").status_code == 200  # a process.list job
    check(client.get(f"/nodes/{node}/jobs/{job_id(client, node, 'process.list')}"), "JobResult")


def test_violations_catch_the_old_shapes() -> None:
    """The checker itself: each shape issue 12 §5 names is refused, the fixed one accepted."""
    assert violations(["vda"], "DiskInfo[]") == [
        "$[0]: DiskInfo must be a non-empty object, got 'vda'"]
    assert violations(["eth0"], "NicInfo[]")
    cpu = dict.fromkeys(RAML["CPUStats"], 0.0)
    old_cpu = {**{k: v for k, v in cpu.items() if k != "guestNice"}, "guestnice": 0.0}
    assert violations(old_cpu, "CPUStats") == ["$.guestNice: CPUStats misses required property guestNice"]
    assert violations(cpu, "CPUStats") == []
    assert violations({"id": "v", "type": "db", "vdiskstorage": "rocksdb"}, "VdiskListItem") == [
        "$.status: VdiskListItem misses required property status"]
    assert violations({"id": "v", "status": "gone", "type": "db", "vdiskstorage": "rocksdb"},
                      "VdiskListItem")
    assert violations({"id": "v", "status": "halted", "size": 1, "blocksize": 4096, "type": "db",
                       "vdiskstorage": "rocksdb", "templatevdisk": None}, "Vdisk") == []
