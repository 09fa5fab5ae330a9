"""The runner against a real broker and real databases (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
import uuid

import pytest
import sqlalchemy as sa

from zos.bus import Bus
from zos.projections import (Runner, all_projectors, make_engine, metadata, read_checkpoints,
                             rebuild, select_projectors, upgrade)

from ._events import booted, bridge_job, job_events, mixed_history
from .conftest import dump_tables

TABLES = ["nodes", "node_snapshots", "jobs", "bridges", "bridge_requests", "flists", "vdisks",
          "storage_clusters"]


async def _catch_up(engine: sa.Engine, bus: Bus, names: list[str] | None = None) -> Runner:
    runner = Runner(engine, bus, select_projectors(names), batch_size=50)
    await runner.run(follow=False)
    return runner


async def test_replay_equals_live(bus: Bus, new_db, engine: sa.Engine) -> None:
    prefix = uuid.uuid4().hex[:8]
    history = mixed_history(prefix)
    live = Runner(engine, bus, all_projectors(), batch_size=40)
    task = asyncio.create_task(live.run(follow=True))
    try:
        # published in slices while the runner follows, so batches split mid-history
        for start in range(0, len(history), 25):
            await bus.append_many(history[start:start + 25])
            await asyncio.sleep(0.01)
        last = await bus.last_seq("zos.evt.>")
        assert await live.wait_for(last, timeout=300), "live runner did not catch up"
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    other = make_engine(new_db())
    upgrade(other)
    await _catch_up(other, bus)
    assert dump_tables(engine, TABLES) == dump_tables(other, TABLES)

    # and each projector rebuilt on its own gives its tables again
    before = dump_tables(engine, TABLES)
    for projector in all_projectors():
        await rebuild(engine, bus, projector)
    assert dump_tables(engine, TABLES) == before
    with engine.connect() as conn:
        nodes = conn.execute(sa.select(metadata.tables["nodes"])
                             .where(metadata.tables["nodes"].c.id.like(f"{prefix}-%"))).mappings().all()
    assert len(nodes) == 3 and all(n["boot_count"] == 2 for n in nodes)
    # bridges: those created and not deleted, a namespaced one under <node>/<namespace>
    alive: set[tuple[str, str]] = set()
    for event in history:
        if event.aggregate == "bridge":
            where = "/".join([event.data["node"], *filter(None, [event.data.get("namespace")])])
            (alive.add if event.type == "bridge.created" else alive.discard)((where, event.data["name"]))
    assert alive and any("/" in node for node, _ in alive)
    assert {(r["node"], r["name"]) for r in before["bridges"] if r["node"].startswith(prefix)} == alive
    other.dispose()


async def test_folds_shape_rows(bus: Bus, engine: sa.Engine) -> None:
    node, job = f"n-{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    create = uuid.uuid4().hex
    await bus.append(booted(node, 3))
    await bus.append_many(job_events(node, job, runs=3, state="ERROR"))
    await bus.append_many(bridge_job(node, create, "bridge.create", "br0", mode="dnsmasq", nat=True,
                                     settings={"cidr": "10.1.0.1/24"}))
    await _catch_up(engine, bus)
    tables = {k: [r for r in v if node in (r.get("id"), r.get("node"))]
              for k, v in dump_tables(engine, TABLES).items()}
    [n] = tables["nodes"]
    assert (n["hostname"], n["ipaddress"], n["status"], n["cpus"]) == (f"h-{node}-3", "10.0.0.4", "running", 4)
    job_row = next(r for r in tables["jobs"] if r["id"] == job)
    assert (job_row["state"], job_row["runs"], job_row["code"], job_row["stdout"]) == ("ERROR", 3, 1001, "out\n")
    [bridge] = tables["bridges"]
    assert (bridge["name"], bridge["network_mode"], bridge["nat"]) == ("br0", "dnsmasq", True)
    assert (bridge["setting"], bridge["job"]) == ({"cidr": "10.1.0.1/24"}, create)
    assert tables["bridge_requests"] == []
    kinds = {r["kind"] for r in tables["node_snapshots"]}
    assert kinds == {"disks", "nics", "info"}


async def test_unknown_types_are_skipped_and_counted(bus: Bus, engine: sa.Engine) -> None:
    from zos.events import Event

    node = f"n-{uuid.uuid4().hex[:8]}"
    await _catch_up(engine, bus)
    with engine.connect() as conn:
        before = dict(conn.execute(sa.text(
            "SELECT name, skipped FROM projection_checkpoints")).all())
    await bus.append(Event(type="zz.nobody.knows", aggregate="node", aggregate_id=node, data={}))
    await bus.publish(f"zos.evt.node.{node}", b"\xc1 not msgpack")
    await bus.append(booted(node))
    await _catch_up(engine, bus)
    with engine.connect() as conn:
        after = dict(conn.execute(sa.text("SELECT name, skipped FROM projection_checkpoints")).all())
        assert conn.execute(sa.text("SELECT count(*) FROM nodes WHERE id = :n"), {"n": node}).scalar() == 1
    assert after["nodes"] - before["nodes"] == 2      # the unknown type and the garbage
    assert after["jobs"] == before["jobs"]            # not on its subjects


async def test_two_runners_never_apply_twice(bus: Bus, engine: sa.Engine) -> None:
    prefix = uuid.uuid4().hex[:8]
    await bus.append_many(mixed_history(prefix, nodes=2, jobs=60, seed=7))
    first = Runner(engine, bus, all_projectors(), batch_size=50)
    second = Runner(engine, bus, all_projectors(), batch_size=30)
    await asyncio.gather(first.run(follow=False), second.run(follow=False))
    with engine.connect() as conn:
        jobs = conn.execute(sa.text("SELECT id, runs FROM jobs WHERE id LIKE :p"),
                            {"p": f"{prefix}-%"}).all()
        boots = conn.execute(sa.text("SELECT boot_count FROM nodes WHERE id LIKE :p"),
                             {"p": f"{prefix}-%"}).scalars().all()
    assert boots == [2, 2]
    assert jobs and all(1 <= runs <= 3 for _, runs in jobs)
    last = await bus.last_seq("zos.evt.>")
    assert set(read_checkpoints(engine, all_projectors()).values()) == {last}


@pytest.mark.parametrize("new_db", ["sqlite"], indirect=True)
async def test_rebuild_cli_shows_progress(bus: Bus, db_url: str, zos_env: dict) -> None:
    import sys

    await bus.append(booted(f"n-{uuid.uuid4().hex[:8]}"))
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "zos", "projections", "rebuild", "nodes", "--db", db_url,
        env=zos_env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode == 0, err.decode()
    assert "nodes: rebuilt to seq" in err.decode() and "ev/s" in err.decode()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "zos", "projections", "status", "--json", "--db", db_url,
        env=zos_env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    import json
    rows = {r["name"]: r for r in json.loads(out)}
    assert rows["nodes"]["lag_events"] == 0 and rows["jobs"]["last_seq"] == 0
    assert rows["jobs"]["lag_events"] > 0
