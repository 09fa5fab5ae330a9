"""The NBD server against the real clients: nbdinfo, qemu-img, qemu-io, nbdcopy, fio."""

from __future__ import annotations

import asyncio
import json
import random
import subprocess
import threading
import time
from pathlib import Path

from zos.bus import connect
from zos.disk import delete_vdisk, resize_vdisk

from .conftest import DiskServer, need, run

MiB = 1 << 20


def test_nbdinfo_shows_the_export_as_specified(disk_server: DiskServer) -> None:
    need("nbdinfo")
    name = disk_server.create(size="64M", type="db", block_size=8192)
    info = json.loads(run("nbdinfo", "--json", disk_server.uri(name)).stdout)
    assert info["protocol"] == "newstyle-fixed"
    assert info["TLS"] is False
    export = info["exports"][0]
    assert export["export-size"] == 64 * MiB
    assert export["block_size_minimum"] == 1
    assert export["block_size_preferred"] == 8192
    assert export["block_size_maximum"] == 32 * MiB
    for flag in ("can_trim", "can_zero", "can_fua", "can_flush", "can_multi_conn", "can_fast_zero"):
        assert export[flag] is True, flag
    assert export["is_read_only"] is False
    assert export["description"] == "db vdisk"
    assert "base:allocation" in export["contexts"]
    text = run("nbdinfo", disk_server.uri(name)).stdout
    assert "using structured packets" in text


def test_list_holds_every_vdisk_and_a_new_one_without_restart(disk_server: DiskServer) -> None:
    need("nbdinfo")
    first = disk_server.create()
    second = disk_server.create(size="1G")
    listed = run("nbdinfo", "--list", "--json", f"nbd+unix:///?socket={disk_server.socket}").stdout
    names = {e["export-name"]: e["export-size"] for e in json.loads(listed)["exports"]}
    assert names[first] == 64 * MiB
    assert names[second] == 1 << 30


def test_read_only_vdisk_refuses_writes_and_keeps_the_connection(disk_server: DiskServer) -> None:
    need("nbdinfo", "qemu-io")
    name = disk_server.create(read_only=True)
    assert run("nbdinfo", "--is", "read-only", disk_server.uri(name), check=False).returncode == 0
    proc = run("qemu-io", "-f", "raw", "-r", "-c", "read -P 0 0 64k", disk_server.uri(name))
    assert "read 65536/65536" in proc.stdout


def test_map_shows_holes_after_trim(disk_server: DiskServer) -> None:
    need("nbdinfo", "qemu-io")
    name = disk_server.create(size="16M")
    fresh = json.loads(run("nbdinfo", "--map", "--json", disk_server.uri(name)).stdout)
    assert fresh == [{"offset": 0, "length": 16 * MiB, "type": 3, "description": "hole,zero"}]
    run("qemu-io", "-f", "raw", "-c", "write -P 0x5a 0 1M", "-c", "discard 256k 256k", "-c", "flush",
        disk_server.uri(name))
    extents = json.loads(run("nbdinfo", "--map", "--json", disk_server.uri(name)).stdout)
    assert [(e["offset"], e["length"], e["type"]) for e in extents] == [
        (0, 256 * 1024, 0), (256 * 1024, 256 * 1024, 3), (512 * 1024, 512 * 1024, 0),
        (MiB, 15 * MiB, 3)]


def test_qemu_io_patterns_zeroes_fua_and_unaligned(disk_server: DiskServer) -> None:
    need("qemu-io")
    name = disk_server.create(size="8M")
    out = run("qemu-io", "-f", "raw",
              "-c", "write -P 0xab 0 64k", "-c", "read -P 0xab 0 64k",
              "-c", "write -z 16k 8k", "-c", "read -P 0 16k 8k", "-c", "read -P 0xab 24k 40k",
              "-c", "write -z -u 32k 32k", "-c", "read -P 0 32k 32k",
              "-c", "write -P 0x11 4097 1000", "-c", "read -P 0x11 4097 1000",
              "-c", "read -P 0xab 0 4097", "-c", "read -P 0xab 5097 11287",
              "-c", "write -f -P 0x22 1M 4k", "-c", "read -P 0x22 1M 4k",
              "-c", "write -z -n 2M 1M", "-c", "read -P 0 2M 1M",
              "-c", "discard 1M 4k", "-c", "read -P 0 1M 4k",
              "-c", "write -P 0x33 8388096 512", "-c", "read -P 0x33 8388096 512",
              "-c", "flush", disk_server.uri(name)).stdout
    assert "Pattern verification failed" not in out
    assert out.count("read ") == 11


def test_qemu_img_convert_in_and_out_is_byte_identical(disk_server: DiskServer, tmp_path: Path) -> None:
    need("qemu-img")
    image = tmp_path / "in.raw"
    rng = random.Random(92)  # the same data every run
    with open(image, "wb") as f:  # data, a hole, more data, an unaligned tail
        f.write(rng.randbytes(3 * MiB))
        f.seek(8 * MiB)
        f.write(rng.randbytes(MiB + 777))
        f.truncate(16 * MiB)
    name = disk_server.create(size="16M", type="db")
    run("qemu-img", "convert", "-n", "-f", "raw", "-O", "raw", str(image), disk_server.uri(name))
    run("qemu-img", "compare", "-f", "raw", "-F", "raw", str(image), disk_server.uri(name))
    out = tmp_path / "out.raw"
    run("qemu-img", "convert", "-f", "raw", "-O", "raw", disk_server.uri(name), str(out))
    assert out.read_bytes() == image.read_bytes()
    mapping = json.loads(run("qemu-img", "map", "--output=json", "-f", "raw",
                             disk_server.uri(name)).stdout)
    assert any(not m["data"] for m in mapping), mapping   # the hole is reported as a hole


def test_nbdcopy_both_ways_with_parallel_connections(disk_server: DiskServer, tmp_path: Path) -> None:
    need("nbdcopy")
    source = tmp_path / "src.raw"
    source.write_bytes(random.Random(112).randbytes(20 * MiB) + bytes(12 * MiB))
    name = disk_server.create(size="32M", type="db")
    run("nbdcopy", "--flush", "-C", "4", "-R", "64", str(source), disk_server.uri(name))
    back = tmp_path / "back.raw"
    run("nbdcopy", "-C", "4", disk_server.uri(name), str(back))
    assert back.read_bytes() == source.read_bytes()


def test_fio_random_writes_verify_crc32c(disk_server: DiskServer) -> None:
    need("fio")
    name = disk_server.create(size="32M", type="db")
    proc = run("fio", "--name=verify", "--ioengine=nbd", f"--uri={disk_server.uri(name)}",
               "--rw=randwrite", "--bs=4k", "--iodepth=16", "--size=8M", "--verify=crc32c",
               "--verify_fatal=1", "--do_verify=1", "--output-format=json", timeout=300)
    job = json.loads(proc.stdout[proc.stdout.index("{"):])["jobs"][0]
    assert job["error"] == 0
    assert job["write"]["io_bytes"] == 8 * MiB


def test_two_connections_see_each_others_flushed_writes(disk_server: DiskServer) -> None:
    need("qemu-io")
    name = disk_server.create(size="8M")
    uri = disk_server.uri(name)
    errors: list[str] = []

    def writer(pattern: int, offset: int) -> None:
        proc = subprocess.run(["qemu-io", "-f", "raw", "-c", f"write -P {pattern} {offset} 1M",
                               "-c", "flush", uri], capture_output=True, text=True, timeout=120)
        if proc.returncode or "error" in proc.stdout.lower():
            errors.append(proc.stdout + proc.stderr)
    threads = [threading.Thread(target=writer, args=(0x41 + n, n * MiB)) for n in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    out = run("qemu-io", "-f", "raw", "-r", "-c", "read -P 0x41 0 1M", "-c", "read -P 0x42 1M 1M",
              uri).stdout
    assert "Pattern verification failed" not in out


def test_resize_and_delete_reach_the_running_server(disk_server: DiskServer) -> None:
    need("nbdinfo", "qemu-io")
    name = disk_server.create(size="8M", type="db")
    run("qemu-io", "-f", "raw", "-c", "write -P 0x31 0 4k", "-c", "flush", disk_server.uri(name))

    async def change(step: str) -> None:
        bus = await connect(disk_server.nats_url, actor="test")
        try:
            if step == "resize":
                await resize_vdisk(bus, name, 16 * MiB)
            else:
                await delete_vdisk(bus, name, data_dir=disk_server.data)
        finally:
            await bus.close()
    asyncio.run(change("resize"))
    deadline = time.monotonic() + 30
    while json.loads(run("nbdinfo", "--json", disk_server.uri(name)).stdout)["exports"][0]["export-size"] \
            != 16 * MiB:
        assert time.monotonic() < deadline, "resize not seen"
    out = run("qemu-io", "-f", "raw", "-c", "read -P 0x31 0 4k", "-c", "write -P 0x32 15M 4k",
              disk_server.uri(name)).stdout
    assert "Pattern verification failed" not in out and "wrote 4096/4096" in out
    asyncio.run(change("delete"))
    disk_server.wait_export(name, present=False)
    gone = run("nbdinfo", disk_server.uri(name), check=False)
    assert gone.returncode != 0
