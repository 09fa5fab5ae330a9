"""The transaction log: flush durability across kill -9, start-up replay of the gap,
one writer per log, and restore to a point in time."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from zos.bus import Bus, tlog_subject
from zos.disk import (RestoreError, RocksStore, TlogError, TlogFilter, load_registry, make_vdisk,
                      read_records, restore_vdisk, state_at)

from .conftest import need, run, unique

MiB = 1 << 20


def test_kill_9_after_flush_then_restart_reads_everything_back(fresh_server, tmp_path: Path) -> None:
    need("qemu-io")
    server = fresh_server()
    logged = server.create(size="16M", type="db")
    plain = server.create(size="16M", type="cache")
    for name in (logged, plain):
        run("qemu-io", "-f", "raw", "-c", "write -P 0x3c 0 2M", "-c", "write -P 0x5d 5M 12k",
            "-c", "write -P 0x6e 7340 3000", "-c", "flush", server.uri(name))
    # keep a connection open mid-work so nothing gets flushed on a clean close
    holder = subprocess.Popen(["qemu-io", "-f", "raw", "-c", "write -P 0x7f 9M 4k", "-c", "sleep 60000",
                               server.uri(logged)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(0.5)
        server.stop(signal.SIGKILL)
    finally:
        holder.kill()
        holder.wait()
    restarted = fresh_server(data=server.data)
    for name in (logged, plain):
        out = run("qemu-io", "-f", "raw", "-r", "-c", "read -P 0x3c 0 7340", "-c", "read -P 0x6e 7340 3000",
                  "-c", "read -P 0x3c 10340 2086812", "-c", "read -P 0x5d 5M 12k", "-c", "read -P 0 2M 3M",
                  restarted.uri(name)).stdout
        assert "Pattern verification failed" not in out, name
        assert out.count("read ") == 5


async def test_start_up_replays_what_storage_lost(bus: Bus, tmp_path: Path) -> None:
    name = unique("gap")
    store = RocksStore(tmp_path / "s", 4096, deduped=False)
    log = TlogFilter(store, bus, name, interval=0.01)
    assert await log.start() == 0
    await log.set_blocks([(i, bytes([i]) * 4096) for i in range(1, 40)])
    await log.set_blocks([(5, None), (6, b"\x66" * 4096)])
    await log.flush()
    assert await store.get_meta("lfseq") == b"41"
    await log.close()
    # storage loses the newest writes and its checkpoint falls behind (a shard restored from backup)
    store = RocksStore(tmp_path / "s", 4096, deduped=False)
    await store.set_blocks([(i, None) for i in range(20, 40)] + [(5, b"\x05" * 4096)])
    await store.set_meta("lfseq", b"19")
    log = TlogFilter(store, bus, name, interval=0.01)
    assert await log.start() == 22           # ops 20..41 replayed
    blocks = await log.get_blocks(range(1, 40))
    assert blocks[4] is None and blocks[5] == b"\x66" * 4096
    assert all(blocks[i - 1] == bytes([i]) * 4096 for i in range(20, 40))
    await log.set_blocks([(1, b"\x99" * 4096)])   # sequence resumes after the last record
    await log.flush()
    assert await store.get_meta("lfseq") == b"42"
    await log.close()


async def test_reads_see_queued_writes_before_they_are_stored(bus: Bus, tmp_path: Path) -> None:
    name = unique("cache")
    store = RocksStore(tmp_path / "s", 512, deduped=False)
    log = TlogFilter(store, bus, name, interval=3600, batch_blocks=1000)
    await log.start()
    await log.set_blocks([(3, b"q" * 512)])
    assert await log.get_blocks([3]) == [b"q" * 512]
    assert await store.get_blocks([3]) == [None]      # acked from the queue, not yet stored
    assert await log.allocated(0, 10) == {3}
    await log.flush()
    assert await store.get_blocks([3]) == [b"q" * 512]
    await log.close()


async def test_a_second_writer_fails_instead_of_forking_the_log(bus: Bus, tmp_path: Path) -> None:
    name = unique("fork")
    first = TlogFilter(RocksStore(tmp_path / "a", 4096, False), bus, name, interval=0.01)
    second = TlogFilter(RocksStore(tmp_path / "b", 4096, False), bus, name, interval=0.01)
    await first.start()
    await second.start()
    await first.set_blocks([(0, b"1" * 4096)])
    await first.flush()
    await second.set_blocks([(0, b"2" * 4096)])
    with pytest.raises(TlogError, match="another writer"):
        await second.flush()
    with pytest.raises(TlogError):
        await second.set_blocks([(1, b"3" * 4096)])
    records = [r async for r in read_records(bus, name)]
    assert len(records) == 1 and records[0][2]["ops"][0][4] == b"1" * 4096
    await first.close()
    await second._stop()
    await second.inner.close()


async def test_records_follow_the_spec_layout(bus: Bus, tmp_path: Path) -> None:
    name = unique("layout")
    log = TlogFilter(RocksStore(tmp_path / "s", 4096, False), bus, name, interval=0.01, batch_blocks=3)
    await log.start()
    await log.set_blocks([(i, bytes([i + 1]) * 4096) for i in range(7)] + [(9, None)])
    await log.flush()
    await log.close()
    records = [r async for r in read_records(bus, name)]
    assert [(r[2]["first"], r[2]["last"]) for r in records] == [(1, 3), (4, 6), (7, 8)]
    kind, batch = records[-1][1], records[-1][2]
    assert kind == "tlog.batch" and batch["v"] == 1 and batch["vdisk"] == name and batch["bs"] == 4096
    assert batch["ops"][1][:3] == [8, 9, 2] and batch["ops"][1][4] is None   # op 2 = delete
    msg = await bus.js.get_last_msg("ZOS_TLOG", tlog_subject(name))
    assert msg.headers["Nats-Msg-Id"] == f"tlog.{name}.7"


async def test_restore_to_a_time_before_a_write(bus: Bus, tmp_path: Path) -> None:
    from zos.disk import create_vdisk, opened
    data = tmp_path / "data"
    name = unique("rs")
    config = make_vdisk(name, "4M", "db")
    await create_vdisk(bus, config)
    registry = await load_registry(bus)
    async with opened(bus, config, data_dir=data, registry=registry) as store:
        await store.set_blocks([(0, b"A" * 4096), (1, b"B" * 4096)])
        await store.flush()
        await asyncio.sleep(0.01)
        before = time.time_ns()
        await asyncio.sleep(0.01)
        await store.set_blocks([(0, b"C" * 4096), (1, None), (2, b"D" * 4096)])
        await store.flush()
    state, _ = await state_at(bus, name, until_ns=before)
    assert state == {0: b"A" * 4096, 1: b"B" * 4096}
    target = unique("rs-into")
    assert await restore_vdisk(bus, name, before, target, data_dir=data) == 2
    registry = await load_registry(bus)
    assert registry.vdisks[target].size == config.size and registry.sources[target]["source"] == name
    async with opened(bus, registry.vdisks[target], data_dir=data, registry=registry) as store:
        assert await store.get_blocks([0, 1, 2]) == [b"A" * 4096, b"B" * 4096, None]
    # the source and its log are untouched, and the restored vdisk has its own log
    now, _ = await state_at(bus, name)
    assert now == {0: b"C" * 4096, 1: None, 2: b"D" * 4096}
    assert (await state_at(bus, target))[0] == {0: b"A" * 4096, 1: b"B" * 4096}
    with pytest.raises(RestoreError, match="no transaction log"):
        await state_at(bus, unique("nolog"))


def test_restore_cli_through_the_nbd_server(fresh_server) -> None:
    need("qemu-io")
    server = fresh_server()
    name = server.create(size="8M", type="db")
    run("qemu-io", "-f", "raw", "-c", "write -P 0x0a 0 64k", "-c", "flush", server.uri(name))
    moment = time.time_ns()
    time.sleep(0.05)
    run("qemu-io", "-f", "raw", "-c", "write -P 0x0b 0 32k", "-c", "flush", server.uri(name))
    target = unique("restored")
    proc = run(".venv/bin/python" if os.path.exists(".venv/bin/python") else "python", "-m", "zos", "disk",
               "restore", name, "--to", str(moment), "--into", target, env=server.env)
    assert f"into {target}" in proc.stdout
    server.wait_export(target)
    out = run("qemu-io", "-f", "raw", "-r", "-c", "read -P 0x0a 0 64k", server.uri(target)).stdout
    assert "Pattern verification failed" not in out and "read 65536/65536" in out
    out = run("qemu-io", "-f", "raw", "-r", "-c", "read -P 0x0b 0 32k", server.uri(name)).stdout
    assert "Pattern verification failed" not in out


def test_sigterm_drains_flushes_and_exits(fresh_server) -> None:
    need("qemu-io", "stdbuf")
    server = fresh_server()
    name = server.create(size="8M", type="db")
    holder = subprocess.Popen(["stdbuf", "-oL", "qemu-io", "-f", "raw", "-c", "write -P 0x44 0 64k",
                               "-c", "sleep 60000", server.uri(name)], stdout=subprocess.PIPE, text=True)
    try:
        assert "wrote 65536/65536" in holder.stdout.readline()   # acked, not flushed by the client
        started = time.monotonic()
        server.stop(signal.SIGTERM)
        assert server.proc.returncode == 0
        assert time.monotonic() - started < 30
    finally:
        holder.kill()
        holder.wait()
    restarted = fresh_server(data=server.data)
    out = run("qemu-io", "-f", "raw", "-r", "-c", "read -P 0x44 0 64k", restarted.uri(name)).stdout
    assert "Pattern verification failed" not in out and "read 65536/65536" in out


async def test_timeline_honours_rewind_and_base_records(bus: Bus, tmp_path: Path) -> None:
    from zos.disk._tlog import append_record
    source, child = unique("tl-src"), unique("tl-child")
    log = TlogFilter(RocksStore(tmp_path / "a", 512, False), bus, source, interval=0.01)
    await log.start()
    for n in range(1, 5):                          # seq 1..4 write block 0 = n
        await log.set_blocks([(0, bytes([n]) * 512)])
        await log.flush()
    await log.close()
    # a rollback to seq 2 discards 3 and 4; later writes continue the sequence
    await append_record(bus, source, "tlog.rewind", {"to_seq": 2, "to_t": 0, "seq": 5, "by": "test",
                                                     "reason": "rollback"})
    assert (await state_at(bus, source)) == ({0: b"\x02" * 512}, 2)
    log = TlogFilter(RocksStore(tmp_path / "a", 512, False), bus, source, interval=0.01)
    await log.start()
    await log.set_blocks([(1, b"\x06" * 512)])     # seq 6
    await log.flush()
    await log.close()
    assert (await state_at(bus, source)) == ({0: b"\x02" * 512, 1: b"\x06" * 512}, 6)
    # a child whose log starts from the source at seq 2 sees the source's state there
    await append_record(bus, child, "tlog.base", {"seq": 1, "source": source, "source_seq": 2, "t": 0})
    state, _ = await state_at(bus, child)
    assert state == {0: b"\x02" * 512}
