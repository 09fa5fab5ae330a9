"""Builtins' argument and return shapes (spec §12), through the bus against a real agent."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import random
import stat
import subprocess
import uuid

import pytest

from zos.bus import log_subject
from zos.bus import call


def uid() -> str:
    return "t-" + uuid.uuid4().hex[:12]


async def run(bus, agent, command, arguments=None, **fields):
    return await call(bus, agent.node_id, command, arguments or {}, timeout=90, **fields)


async def value(bus, agent, command, arguments=None, **fields):
    """`json()` of the 0-core client: SUCCESS, level 20, decoded data."""
    result = await run(bus, agent, command, arguments, **fields)
    assert result.state == "SUCCESS", result
    assert result.level == 20 and result.streams == ["", ""]
    return json.loads(result.data)


async def error(bus, agent, command, arguments=None):
    result = await run(bus, agent, command, arguments)
    assert result.state == "ERROR" and result.level == 20, result
    return result.code, json.loads(result.data)


# -- core, info --------------------------------------------------------------------------------

async def test_ping(bus, agent):
    assert (await value(bus, agent, "core.ping")).startswith("PONG Version: ")


async def test_info_cpu_names(bus, agent):
    cpus = await value(bus, agent, "info.cpu")
    assert len(cpus) == os.cpu_count()
    assert set(cpus[0]) == {"cpu", "vendorId", "family", "model", "stepping", "physicalId", "coreId",
                            "cores", "modelName", "mhz", "cacheSize", "flags", "microcode"}
    assert isinstance(cpus[0]["family"], str) and isinstance(cpus[0]["cores"], int)
    assert isinstance(cpus[0]["flags"], list)


async def test_info_mem_names(bus, agent):
    mem = await value(bus, agent, "info.mem")
    assert set(mem) == {"total", "available", "used", "usedPercent", "free", "active", "inactive",
                        "wired", "buffers", "cached", "writeback", "dirty", "writebacktmp", "shared",
                        "slab", "pagetables", "swapcached"}
    assert mem["total"] > mem["available"] > 0 and isinstance(mem["usedPercent"], float)


async def test_info_os_disk_nic_port_version(bus, agent):
    info = await value(bus, agent, "info.os")
    assert set(info) == {"hostname", "uptime", "bootTime", "procs", "os", "platform", "platformFamily",
                         "platformVersion", "kernelVersion", "virtualizationSystem",
                         "virtualizationRole", "hostid"}
    assert info["os"] == "linux" and info["procs"] > 1
    disks = await value(bus, agent, "info.disk")
    assert any(d["mountpoint"] == "/" for d in disks)
    assert set(disks[0]) == {"device", "mountpoint", "fstype", "opts"}
    nics = await value(bus, agent, "info.nic")
    lo = next(n for n in nics if n["name"] == "lo")
    assert {"addr": "127.0.0.1/8"} in lo["addrs"] and set(lo) == {"mtu", "name", "hardwareaddr",
                                                                  "flags", "addrs", "speed"}
    ports = await value(bus, agent, "info.port")
    nats_port = int(agent.nats_url.rsplit(":", 1)[1])
    assert any(p["port"] == nats_port and p["network"].startswith("tcp") for p in ports)
    assert set(await value(bus, agent, "info.version")) == {"branch", "revision", "dirty"}


async def test_core_state(bus, agent):
    state = await value(bus, agent, "core.state")
    assert set(state) == {"cpu", "rss", "vms", "swap", "debug"} and state["rss"] > 10_000_000


# -- job and process ------------------------------------------------------------------------------

async def test_job_list_and_process_list(bus, agent):
    job_id = uid()
    job = asyncio.ensure_future(run(bus, agent, "core.system", {"name": "sleep", "args": ["30"]},
                                    id=job_id, tags=["x"]))
    for _ in range(300):
        rows = await value(bus, agent, "job.list", {"id": job_id}) if (await run(
            bus, agent, "job.list", {"id": job_id})).state == "SUCCESS" else []
        if rows and rows[0]["rss"] > 0:
            break
        await asyncio.sleep(0.1)
    (row,) = rows
    assert set(row) == {"cpu", "rss", "vms", "swap", "debug", "starttime", "cmd"}
    assert row["cmd"]["id"] == job_id and row["cmd"]["tags"] == ["x"] and row["cmd"]["command"] == "core.system"
    everything = await value(bus, agent, "job.list")
    assert job_id in [r["cmd"]["id"] for r in everything]
    code, message = await error(bus, agent, "job.list", {"id": "nope-" + uid()})
    assert code == 404 and "nope-" in message
    # the sleep is a process of the node
    processes = await value(bus, agent, "process.list")
    sleeper = next(p for p in processes if p["cmdline"] == "sleep 30")
    assert set(sleeper) == {"pid", "ppid", "cmdline", "name", "createtime", "cpu", "rss", "vms", "swap",
                            "rlimit", "ofd"}
    assert set(sleeper["cpu"]) == {"guestnice", "idle", "iowait", "irq", "nice", "softirq", "steal",
                                   "stolen", "system", "user"}
    (one,) = await value(bus, agent, "process.list", {"pid": sleeper["pid"]})
    assert one["name"] == "sleep"
    assert await value(bus, agent, "job.killall") is True
    assert (await job).code == 999


async def test_process_kill(bus, agent):
    proc = subprocess.Popen(["sleep", "30"])
    try:
        assert await value(bus, agent, "process.kill", {"pid": proc.pid, "signal": 9}) is None
        assert proc.wait(10) == -9
    finally:
        proc.kill()
    assert (await error(bus, agent, "process.kill", {"pid": 1}))[0] == 400
    assert (await error(bus, agent, "process.kill", {"pid": "12"}))[0] == 400
    assert (await error(bus, agent, "process.kill", {"pid": 4_000_000}))[0] == 404


# -- filesystem -----------------------------------------------------------------------------------

def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


async def test_filesystem_write_then_read_in_blocks(bus, agent, tmp_path):
    path = str(tmp_path / "f.bin")
    payload = random.Random(140).randbytes(700 * 1024)  # the same data every run
    fd = await value(bus, agent, "filesystem.open", {"file": path, "mode": "w", "perm": 0o600})
    for start in range(0, len(payload), 300 * 1024):
        assert await value(bus, agent, "filesystem.write",
                           {"fd": fd, "block": b64(payload[start:start + 300 * 1024])}) is None
    assert await value(bus, agent, "filesystem.close", {"fd": fd}) is None
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    fd = await value(bus, agent, "filesystem.open", {"file": path, "mode": "r"})
    blocks = []
    while True:
        block = await value(bus, agent, "filesystem.read", {"fd": fd})
        if block == "":
            break
        blocks.append(base64.b64decode(block))
    assert len(blocks[0]) == 512 * 1024 and b"".join(blocks) == payload
    await value(bus, agent, "filesystem.close", {"fd": fd})


@pytest.mark.parametrize(("mode", "readable", "writable", "keeps"), [
    ("r", True, False, True), ("r+", True, True, True), ("w", False, True, False),
    ("w+", True, True, False), ("a", False, True, True), ("a+", True, True, True),
])
async def test_filesystem_modes(bus, agent, tmp_path, mode, readable, writable, keeps):
    path = tmp_path / "f"
    path.write_bytes(b"old")
    fd = await value(bus, agent, "filesystem.open", {"file": str(path), "mode": mode})
    read = await run(bus, agent, "filesystem.read", {"fd": fd})
    if readable:
        assert read.state == "SUCCESS"
    else:
        assert read.code == 400 and "cannot be read" in json.loads(read.data)
    write = await run(bus, agent, "filesystem.write", {"fd": fd, "block": b64(b"new")})
    if writable:
        assert write.state == "SUCCESS"
    else:
        assert write.code == 400 and "cannot be written" in json.loads(write.data)
    await value(bus, agent, "filesystem.close", {"fd": fd})
    content = path.read_bytes()
    assert content.startswith(b"old") == keeps


async def test_filesystem_errors(bus, agent, tmp_path):
    existing = tmp_path / "exists"
    existing.write_text("x")
    assert (await error(bus, agent, "filesystem.open", {"file": str(existing), "mode": "x"}))[0] == 412
    fd = await value(bus, agent, "filesystem.open", {"file": str(tmp_path / "new"), "mode": "x"})
    await value(bus, agent, "filesystem.close", {"fd": fd})
    code, message = await error(bus, agent, "filesystem.open", {"file": str(tmp_path / "missing"), "mode": "r"})
    assert code == 404 and "missing" in message
    code, message = await error(bus, agent, "filesystem.open", {"file": str(existing), "mode": "rw"})
    assert code == 400 and "'rw'" in message
    assert (await error(bus, agent, "filesystem.read", {"fd": "no-such-fd"}))[0] == 404
    assert (await error(bus, agent, "filesystem.close", {"fd": fd}))[0] == 404  # closed already
    fd = await value(bus, agent, "filesystem.open", {"file": str(existing), "mode": "w"})
    code, message = await error(bus, agent, "filesystem.write", {"fd": fd, "block": "not base64!"})
    assert code == 400 and "'block'" in message
    code, message = await error(bus, agent, "filesystem.open", {"file": 7, "mode": "r"})
    assert code == 400 and "'file'" in message


async def test_filesystem_paths(bus, agent, tmp_path):
    root = tmp_path / "tree"
    deep = root / "a" / "b"
    assert await value(bus, agent, "filesystem.mkdir", {"path": str(deep)}) is None
    assert await value(bus, agent, "filesystem.mkdir", {"path": str(deep)}) is None  # like mkdir -p
    (deep / "file").write_text("12345")
    assert await value(bus, agent, "filesystem.exists", {"path": str(deep / "file")}) is True
    assert await value(bus, agent, "filesystem.exists", {"path": str(root / "nope")}) is False
    listing = await value(bus, agent, "filesystem.list", {"path": str(deep)})
    assert listing == [{"name": "file", "size": 5, "mode": os.stat(deep / "file").st_mode, "is_dir": False}]
    assert (await error(bus, agent, "filesystem.list", {"path": str(root / "nope")}))[0] == 404
    await value(bus, agent, "filesystem.chmod", {"path": str(root), "mode": 0o700, "recursive": True})
    assert stat.S_IMODE(os.stat(deep / "file").st_mode) == 0o700
    await value(bus, agent, "filesystem.chmod", {"path": str(deep / "file"), "mode": "644"})
    assert stat.S_IMODE(os.stat(deep / "file").st_mode) == 0o644
    assert (await error(bus, agent, "filesystem.chmod", {"path": str(root), "mode": "rwx"}))[0] == 400
    await value(bus, agent, "filesystem.chown", {"path": str(root), "user": "root", "group": "0",
                                                 "recursive": True})
    assert os.stat(deep / "file").st_uid == 0
    await value(bus, agent, "filesystem.chown", {"path": str(deep / "file"), "user": 1, "group": 2})
    assert (os.stat(deep / "file").st_uid, os.stat(deep / "file").st_gid) == (1, 2)
    await value(bus, agent, "filesystem.chown", {"path": str(deep / "file"), "user": 0})
    assert (os.stat(deep / "file").st_uid, os.stat(deep / "file").st_gid) == (0, 2)
    assert (await error(bus, agent, "filesystem.chown", {"path": str(root), "user": "no-such-user-x"}))[0] == 404
    await value(bus, agent, "filesystem.move", {"path": str(deep / "file"), "destination": str(root / "moved")})
    assert (root / "moved").read_text() == "12345" and not (deep / "file").exists()
    assert await value(bus, agent, "filesystem.remove", {"path": str(root)}) is None
    assert not root.exists()
    assert await value(bus, agent, "filesystem.remove", {"path": str(root)}) is None  # rm -rf


# -- logger queues and the aggregator -------------------------------------------------------------

async def logger_records(bus, agent, key):
    subject = log_subject(agent.node_id, key)
    return [(json.loads(item.data), item.headers)
            async for item in bus.replay(subject, decode_events=False)]


async def test_logger_subscribe_feeds_the_queue(bus, agent):
    name = "q" + uid()
    key = await value(bus, agent, "logger.subscribe", {"queue": name, "levels": [3]})
    assert key == f"logger:{name}"
    job = await run(bus, agent, "bash", {"script": "echo plain; echo '3::for the queue'"})
    records = []
    for _ in range(100):
        records = await logger_records(bus, agent, key)
        if any(r["command"] == job.id and r["message"]["message"] == "for the queue" for r, _ in records):
            break
        await asyncio.sleep(0.1)
    mine = [r for r, _ in records if r["command"] == job.id]
    assert [r["message"]["message"] for r in mine] == ["for the queue", ""]  # level 3 + the exit record
    assert mine[0]["message"]["meta"] == 3 << 16
    headers = records[0][1]
    assert headers["Zos-Redis-Key"] == key and int(headers["Zos-Trim"]) > 0
    assert await value(bus, agent, "logger.unsubscribe", {"queue": key}) is None
    assert (await error(bus, agent, "logger.unsubscribe", {"queue": key}))[0] == 404
    assert (await error(bus, agent, "logger.subscribe", {"levels": ["x"]}))[0] == 400


async def test_aggregator_query_statsd_from_a_job(bus, agent):
    key = "test.metric." + uid()[2:]
    await run(bus, agent, "bash", {"script": f"echo '10::{key}:5|A|id=disk1,kind=x'; "
                                             f"echo '10::{key}:7|A|id=disk1,kind=x'"})
    stats = await value(bus, agent, "aggregator.query", {"key": key})
    metric = stats[f"{key}/disk1"]
    assert metric["op"] == "A" and metric["last_value"] == 7
    assert {"key": "kind", "value": "x"} in metric["tags"]
    assert metric["current"]["300"]["count"] == 2 and metric["current"]["300"]["avg"] == 6
    assert metric["current"]["300"]["max"] == 7 and metric["history"]["300"] == []
    assert await value(bus, agent, "aggregator.query", {"key": key, "tags": {"kind": "y"}}) == {}
