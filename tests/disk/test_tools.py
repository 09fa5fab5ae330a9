"""`zos disk` tools and the vdisk lifecycle on the bus: create, resize, copy, delete,
export/import, storage clusters, templates and I/O statistics."""

from __future__ import annotations

import asyncio
import json
import os
import random
import sys
from pathlib import Path
from collections.abc import Callable

import pytest
import redis as redis_sync

from zos.bus import Bus, aggregate_filter, io_subject
from zos.disk import (SnapshotError, VdiskConfigError, VdiskExists, copy_vdisk, create_cluster,
                      create_vdisk, delete_vdisk, export_snapshot, import_snapshot, load_registry,
                      make_vdisk, opened, read_records, resize_vdisk)
from zos.events import decode_value

from .conftest import DiskServer, need, run, unique

MiB = 1 << 20


def zos(*args: str, env: dict[str, str]) -> str:
    return run(sys.executable, "-m", "zos", *args, env=env).stdout


async def fill(bus: Bus, name: str, data_dir: Path, blocks: dict[int, bytes]) -> None:
    registry = await load_registry(bus)
    async with opened(bus, registry.vdisks[name], data_dir=data_dir, registry=registry) as store:
        await store.set_blocks(sorted(blocks.items()))


async def read(bus: Bus, name: str, data_dir: Path, indices: list[int]) -> list:
    registry = await load_registry(bus)
    async with opened(bus, registry.vdisks[name], data_dir=data_dir, registry=registry) as store:
        return await store.get_blocks(indices)


async def test_create_validates_and_refuses_duplicates(bus: Bus) -> None:
    name = unique()
    await create_vdisk(bus, make_vdisk(name, "1G", "boot", block_size=512))
    with pytest.raises(VdiskExists):
        await create_vdisk(bus, make_vdisk(name, "1G", "db"))
    with pytest.raises(VdiskConfigError, match="power of two"):
        make_vdisk(unique(), "1G", "db", block_size=3000)
    with pytest.raises(VdiskConfigError, match="block size 256"):
        make_vdisk(unique(), "1G", "db", block_size=256)
    with pytest.raises(VdiskConfigError, match="not one of"):
        make_vdisk(unique(), "1G", "floppy")
    with pytest.raises(VdiskConfigError, match="template vdisk"):
        await create_vdisk(bus, make_vdisk(unique(), "1G", "db", template=unique("missing")))
    with pytest.raises(VdiskConfigError, match="cannot have a template"):
        make_vdisk(unique(), "1G", "cache", template=name)
    with pytest.raises(VdiskConfigError, match="storage"):
        await create_vdisk(bus, make_vdisk(unique(), "1G", "db", storage="s3://x"))
    registry = await load_registry(bus)
    config = registry.vdisks[name]
    assert (config.size, config.block_size, config.deduped, config.has_tlog) == (1 << 30, 512, True, True)
    assert make_vdisk("x", "5", "cache").size == 5 << 30        # a bare number is GiB (upstream)
    assert make_vdisk("x", 8192, "cache").size == 8192           # an int is bytes
    assert make_vdisk("x", "1000B", "cache", block_size=512).size == 1024


async def test_resize_grows_and_refuses_shrinking(bus: Bus) -> None:
    name = unique()
    await create_vdisk(bus, make_vdisk(name, "8M", "cache"))
    assert (await resize_vdisk(bus, name, 16 * MiB)).size == 16 * MiB
    with pytest.raises(VdiskConfigError, match="shrinking"):
        await resize_vdisk(bus, name, MiB)
    assert (await load_registry(bus)).vdisks[name].size == 16 * MiB
    types = [d.event.type async for d in bus.replay(f"zos.evt.vdisk.{name}")]
    assert types == ["vdisk.created", "vdisk.resized"]


async def test_copy_then_delete(bus: Bus, tmp_path: Path) -> None:
    src = unique("src")
    await create_vdisk(bus, make_vdisk(src, "4M", "db"))
    rng = random.Random(82)  # the same data every run
    blocks = {i: rng.randbytes(4096) for i in (0, 5, 900)}
    await fill(bus, src, tmp_path, blocks)
    dst = unique("dst")
    assert await copy_vdisk(bus, src, dst, data_dir=tmp_path) == 3
    assert await read(bus, dst, tmp_path, [0, 5, 900, 1]) == [blocks[0], blocks[5], blocks[900], None]
    assert len([r async for r in read_records(bus, dst)]) >= 1        # the copy has its own log
    await delete_vdisk(bus, src, data_dir=tmp_path)
    registry = await load_registry(bus)
    assert src not in registry.vdisks and dst in registry.vdisks
    assert [r async for r in read_records(bus, src)] == []            # log purged after storage
    await create_vdisk(bus, make_vdisk(src, "4M", "db"))              # the name can be reused
    assert await read(bus, src, tmp_path, [0]) == [None]


@pytest.mark.parametrize("compression,key", [("lz4", None), ("xz", random.Random(96).randbytes(32))],
                         ids=["lz4", "xz-aes"])
async def test_export_import_round_trip_with_reblocking(bus: Bus, tmp_path: Path, compression: str,
                                                        key: bytes | None) -> None:
    name = unique("exp")
    await create_vdisk(bus, make_vdisk(name, "8M", "cache", block_size=4096))
    rng = random.Random(101)  # the same data every run
    blocks = {0: rng.randbytes(4096), 1: b"\x07" * 4096, 40: b"\x07" * 4096, 2047: rng.randbytes(4096)}
    await fill(bus, name, tmp_path, blocks)
    snapshots = tmp_path / "snapshots"
    progress: list[tuple[int, int]] = []
    snapshot, count = await export_snapshot(bus, name, snapshots, data_dir=tmp_path, key=key,
                                            compression=compression, block_size=65536,
                                            progress=lambda d, t: progress.append((d, t)))
    assert count == 3 and progress[-1] == (3, 3)                      # blocks 0+1, 40, 2047 -> 3
    stored = [p for p in snapshots.rglob("*") if p.is_file() and "backups" not in p.parts]
    assert len(stored) == 3 and all(len(p.parent.name) == 4 and len(p.name) == 56 for p in stored)
    # import into a vdisk with another block size (re-blocking) and read it back
    target = unique("imp")
    await import_snapshot(bus, target, snapshots, snapshot, data_dir=tmp_path, key=key, type="db",
                          block_size=16384)
    registry = await load_registry(bus)
    assert registry.vdisks[target].block_size == 16384 and registry.vdisks[target].size == 8 * MiB
    got = await read(bus, target, tmp_path, [0, 10, 511, 1])
    assert got[0] == blocks[0] + blocks[1] + bytes(8192)
    assert got[1] == b"\x07" * 4096 + bytes(12288)
    assert got[2] == bytes(12288) + blocks[2047]
    assert got[3] is None
    if key:
        with pytest.raises(SnapshotError, match="header does not open"):
            await import_snapshot(bus, unique("bad"), snapshots, snapshot, data_dir=tmp_path,
                                  key=random.Random(125).randbytes(32))
    # a damaged block is caught, not imported
    victim = stored[0]
    raw = bytearray(victim.read_bytes())
    raw[-1] ^= 0xFF
    victim.write_bytes(bytes(raw))
    with pytest.raises(SnapshotError):
        await import_snapshot(bus, unique("dmg"), snapshots, snapshot, data_dir=tmp_path, key=key)


def test_cli_create_list_info_resize_delete(nats_url: str, tmp_path: Path) -> None:
    env = {**os.environ, "ZOS_NATS": nats_url, "ZOS_DATA": str(tmp_path)}
    name = unique("cli")
    created = json.loads(zos("disk", "create", name, "--size", "2G", "--type", "boot",
                             "--block-size", "512", env=env))
    assert created["size"] == 2 << 30 and created["deduped"] is True
    assert any(line.split()[0] == name for line in zos("disk", "list", env=env).splitlines())
    info = json.loads(zos("disk", "info", name, env=env))
    assert info["type"] == "boot" and info["blocks"] == (2 << 30) // 512
    bad = run(sys.executable, "-m", "zos", "disk", "create", name, "--size", "1G", env=env, check=False)
    assert bad.returncode == 1 and "already exists" in bad.stderr
    zos("disk", "delete", name, env=env)
    assert name not in zos("disk", "list", env=env)


def test_vdisk_on_a_declared_cluster_boot_dedup_and_template(disk_server: DiskServer,
                                                             redis_factory: Callable[[], str],
                                                             tmp_path: Path) -> None:
    need("qemu-io", "qemu-img")
    urls = [redis_factory() for _ in range(2)]
    label = unique("cl")

    async def declare() -> None:
        from zos.bus import connect
        bus = await connect(disk_server.nats_url, actor="test")
        try:
            await create_cluster(bus, label, [u[len("redis://"):] for u in urls])
        finally:
            await bus.close()
    asyncio.run(declare())
    # an image on the cluster, then a boot vdisk (deduped) using it as template
    image = disk_server.create(size="8M", type="cache", storage=f"cluster:{label}")
    raw = tmp_path / "image.raw"
    raw.write_bytes(random.Random(168).randbytes(MiB) + bytes(7 * MiB))
    run("qemu-img", "convert", "-n", "-f", "raw", "-O", "raw", str(raw), disk_server.uri(image))
    boot = disk_server.create(size="8M", type="boot", storage=f"cluster:{label}", template=image)
    run("qemu-img", "compare", "-f", "raw", "-F", "raw", str(raw), disk_server.uri(boot))
    # identical blocks written to the boot vdisk are stored once
    run("qemu-io", "-f", "raw", "-c", "write -P 0xee 2M 1M", "-c", "flush", disk_server.uri(boot))
    clients = [redis_sync.Redis.from_url(u) for u in urls]
    import hashlib
    digest = hashlib.blake2b(b"\xee" * 4096, digest_size=32).digest()
    assert sum(c.exists(digest) for c in clients) == 1
    assert sum(c.hlen(f"lba:{boot}") for c in clients) >= 2           # sectors of 1 MiB + template copy
    out = run("qemu-io", "-f", "raw", "-r", "-c", "read -P 0xee 2M 1M", disk_server.uri(boot)).stdout
    assert "Pattern verification failed" not in out


async def test_lifecycle_events_and_io_statistics(fresh_server, bus: Bus) -> None:
    need("qemu-io")
    server = fresh_server("--stats-interval", "0.5")
    name = await asyncio.to_thread(server.create, size="8M", type="db")
    start = await bus.last_seq(io_subject("disk", name))
    proc = await asyncio.create_subprocess_exec(
        "qemu-io", "-f", "raw", "-c", "write -P 1 0 1M", "-c", "read 0 512k", "-c", "flush", server.uri(name),
        stdout=asyncio.subprocess.DEVNULL)
    assert await proc.wait() == 0
    samples: list[dict] = []
    async with asyncio.timeout(60):   # the I/O may be spread over a few intervals
        while sum(s["write_bytes"] for s in samples) < MiB or sum(s["read_bytes"] for s in samples) < 512 * 1024:
            await asyncio.sleep(0.2)
            samples = [decode_value(d.data) async for d in bus.replay(io_subject("disk", name),
                                                                       decode_events=False)]
    assert start == 0
    assert sum(s["write_bytes"] for s in samples) == MiB
    assert sum(s["read_bytes"] for s in samples) == 512 * 1024
    assert sum(s["write_ops"] for s in samples) >= 1
    assert all(s["interval"] > 0.3 for s in samples)
    assert f"vdisk.iops.write@virt.{name}" in samples[0] and samples[0]["flushes"] >= 0
    types = []
    async with asyncio.timeout(30):
        while "vdisk.detached" not in types:
            types = [d.event.type async for d in bus.replay(aggregate_filter("vdisk"))
                     if d.event and d.event.data.get("name") == name]
            await asyncio.sleep(0.1)
    assert types == ["vdisk.created", "vdisk.attached", "vdisk.detached"]
