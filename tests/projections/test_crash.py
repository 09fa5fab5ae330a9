"""kill -9 of `zos projections run` at random points, restart: the same tables as one clean
replay (nothing lost, nothing applied twice: boot and run counters would show it)."""

from __future__ import annotations

import asyncio
import random
import signal
import subprocess
import sys
import uuid

import sqlalchemy as sa

from zos.bus import Bus
from zos.projections import Runner, all_projectors, make_engine, read_checkpoints, upgrade

from ._events import mixed_history
from .conftest import REPO, dump_tables

TABLES = ["nodes", "node_snapshots", "jobs", "bridges", "bridge_requests", "flists", "vdisks",
          "storage_clusters"]


def _runner(db: str, env: dict) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "zos", "projections", "run", "--db", db,
                             "--batch", "37"], env=env, cwd=REPO, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)


async def test_kill_9_and_restart_gives_same_tables(bus: Bus, new_db, zos_env: dict) -> None:
    rng = random.Random(1)  # the same history and kill points every run
    db = new_db()
    engine = make_engine(db)
    upgrade(engine)
    history = mixed_history(uuid.uuid4().hex[:8], nodes=5, jobs=200, seed=rng.randrange(1000))
    chunks = range(0, len(history), 100)
    kill_after = set(rng.sample(range(len(chunks)), 3))
    proc = _runner(db, zos_env)
    kills = 0
    try:
        for index, start in enumerate(chunks):
            await bus.append_many(history[start:start + 100])
            await asyncio.sleep(rng.uniform(0.05, 1.5))
            if index in kill_after:
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                kills += 1
                proc = _runner(db, zos_env)
        last = await bus.last_seq("zos.evt.>")
        for _ in range(1200):
            positions = await asyncio.to_thread(read_checkpoints, engine, all_projectors())
            if min(positions.values()) >= last:
                break
            await asyncio.sleep(0.1)
        else:
            raise AssertionError(f"runner stuck at {positions}, log at {last}")
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert kills >= 1

    fresh = make_engine(new_db())
    upgrade(fresh)
    await Runner(fresh, bus, all_projectors(), batch_size=500).run(follow=False)
    assert dump_tables(engine, TABLES) == dump_tables(fresh, TABLES)
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM jobs")).scalar() >= 200
    engine.dispose()
    fresh.dispose()
