"""Projection replay speed vs the bus's own replay, and API read throughput vs a bare
Starlette endpoint serving the same bytes — all in one run.

    .venv/bin/python -m bench.projections_replay [--nodes 100] [--jobs 100000] [--seconds 10]

Replay: 100 nodes booted and N jobs (accepted, started, finished: 3 events each) are folded
into SQLite and PostgreSQL (when one is reachable: ZOS_BENCH_PG, ZOS_TEST_PG or
127.0.0.1:5432); the peer is `bus.replay()` reading and decoding the same events with no
database. API: GET /nodes and GET /nodes/{id}/jobs from 50 concurrent clients against
`zos api serve` on the SQLite projection; the peer is uvicorn + Starlette returning the same
JSON from memory (the HTTP stack's ceiling on this machine).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
import sqlalchemy as sa

from zos.bus import Bus, connect, free_port, wait_for_port
from zos.events import new_event
from zos.projections import Runner, all_projectors, make_engine, upgrade

from ._common import Timer, broker, table

REPO = Path(__file__).resolve().parent.parent


def _history(nodes: int, jobs: int) -> list:
    names = [f"node{i:03d}" for i in range(nodes)]
    out = [new_event("node.booted", "node", n, {"node": n, "hostname": n, "cpus": 8, "memory": 1 << 34,
                                                "version": "bench"}) for n in names]
    for j in range(jobs):
        node, job = names[j % nodes], uuid.uuid4().hex
        out.append(new_event("job.accepted", "job", job, {"node": node, "command": {
            "id": job, "command": "core.system", "arguments": {"name": "true"}}}))
        out.append(new_event("job.started", "job", job, {"node": node, "command": "core.system",
                                                         "pid": 1000 + j % 30000, "starttime": j}))
        out.append(new_event("job.finished", "job", job, {"node": node, "result": {
            "id": job, "command": "core.system", "state": "SUCCESS", "code": 0, "level": 0,
            "data": "", "streams": ["", ""], "starttime": j, "time": 1, "tags": None,
            "container": 0}}))
    return out


async def _raw_replay(bus: Bus) -> tuple[int, float]:
    count = 0
    with Timer() as t:
        async for item in bus.replay("zos.evt.>"):
            count += item.event is not None
    return count, t.seconds


async def _project(bus: Bus, url: str) -> tuple[int, float]:
    engine = make_engine(url)
    upgrade(engine)
    runner = Runner(engine, bus, all_projectors(), batch_size=5000)
    with Timer() as t:
        await runner.run(follow=False)
    with engine.connect() as conn:
        jobs = conn.execute(sa.text("SELECT count(*) FROM jobs")).scalar()
    engine.dispose()
    return jobs, t.seconds


def _pg_admin() -> str | None:
    import socket
    candidates = [os.environ.get("ZOS_BENCH_PG"), os.environ.get("ZOS_TEST_PG")]
    try:
        socket.create_connection(("127.0.0.1", 5432), timeout=1).close()
        candidates += ["postgresql://postgres@127.0.0.1:5432/postgres",
                       "postgresql://root@127.0.0.1:5432/postgres"]
    except OSError:
        pass
    for url in filter(None, candidates):
        try:
            engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1),
                                      isolation_level="AUTOCOMMIT")
            with engine.connect() as conn:
                conn.execute(sa.text("SELECT 1"))
            engine.dispose()
            return url
        except Exception:  # not this one; try the next candidate
            continue
    return None


async def _load(base: str, paths: list[str], seconds: float, clients: int = 50) -> float:
    """Requests/s of `clients` concurrent keep-alive clients cycling through `paths`."""
    done = 0
    stop_at = time.monotonic() + seconds
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=60) as client:
        async def worker(seed: int) -> None:
            nonlocal done
            rng = random.Random(seed)
            while time.monotonic() < stop_at:
                resp = await client.get(rng.choice(paths))
                resp.raise_for_status()
                done += 1
        start = time.monotonic()
        await asyncio.gather(*(worker(i) for i in range(clients)))
        return done / (time.monotonic() - start)


_PEER = '''
import json, sys, httpx, uvicorn
from starlette.applications import Starlette
from starlette.responses import Response
from starlette.routing import Route
base, port = sys.argv[1], int(sys.argv[2])
cache = {}
def fetch(path):
    if path not in cache:
        cache[path] = httpx.get(base + path, timeout=60).content
    return cache[path]
async def nodes(request):
    return Response(fetch("/nodes"), media_type="application/json")
async def jobs(request):
    return Response(fetch(request.url.path), media_type="application/json")
app = Starlette(routes=[Route("/nodes", nodes), Route("/nodes/{n}/jobs", jobs)])
uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
'''


def _serve(argv: list[str], port: int) -> subprocess.Popen:
    proc = subprocess.Popen(argv, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ})
    wait_for_port("127.0.0.1", port, 60, proc)
    return proc


async def _api_bench(url: str, db: str, nodes: int, seconds: float) -> list[tuple[str, float, float, str]]:
    api_port, peer_port = free_port(), free_port()
    api = _serve([sys.executable, "-m", "zos", "api", "serve", "--nats", url, "--db", db, "--port",
                  str(api_port), "--no-auth", "--no-projectors"], api_port)
    base = f"http://127.0.0.1:{api_port}"
    peer = _serve([sys.executable, "-c", _PEER, base, str(peer_port)], peer_port)
    peer_base = f"http://127.0.0.1:{peer_port}"
    rows = []
    try:
        job_paths = [f"/nodes/node{i:03d}/jobs" for i in range(nodes)]
        for path in job_paths:  # the peer caches each answer once before the timed part
            httpx.get(peer_base + path, timeout=60).raise_for_status()
        httpx.get(peer_base + "/nodes", timeout=60).raise_for_status()
        for what, paths in (("GET /nodes", ["/nodes"]), ("GET /nodes/{id}/jobs", job_paths)):
            ours = await _load(base, paths, seconds)
            theirs = await _load(peer_base, paths, seconds)
            rows.append((f"{what}, 50 clients", ours, theirs, "req/s"))
            print(f"{what}: zos {ours:,.0f} req/s, static peer {theirs:,.0f} req/s", flush=True)
    finally:
        for proc in (api, peer):
            proc.terminate()
            proc.wait(15)
    return rows


async def run(args: argparse.Namespace, url: str) -> str:
    bus = await connect(url, actor="bench")
    history = _history(args.nodes, args.jobs)
    with Timer() as t:
        for start in range(0, len(history), 20000):
            await bus.append_many(history[start:start + 20000])
    print(f"published {len(history):,} events in {t.seconds:.1f} s", flush=True)
    rows = []
    count, raw_s = await _raw_replay(bus)
    raw = count / raw_s
    print(f"raw bus.replay: {raw:,.0f} ev/s", flush=True)
    with tempfile.TemporaryDirectory(prefix="zos-bench-db-") as tmp:
        db = f"sqlite:///{tmp}/bench.db"
        jobs, seconds = await _project(bus, db)
        assert jobs == args.jobs, f"projected {jobs} jobs, expected {args.jobs}"
        rows.append(("replay into SQLite vs bus.replay", count / seconds, raw, "events/s"))
        print(f"SQLite: {count / seconds:,.0f} ev/s", flush=True)
        admin = _pg_admin()
        if admin:
            name = f"zos_bench_{uuid.uuid4().hex[:8]}"
            engine = sa.create_engine(admin.replace("postgresql://", "postgresql+psycopg://", 1),
                                      isolation_level="AUTOCOMMIT")
            with engine.connect() as conn:
                conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
            try:
                jobs, seconds = await _project(bus, admin.rsplit("/", 1)[0] + "/" + name)
                rows.append(("replay into PostgreSQL vs bus.replay", count / seconds, raw, "events/s"))
                print(f"PostgreSQL: {count / seconds:,.0f} ev/s", flush=True)
            finally:
                with engine.connect() as conn:
                    conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
                engine.dispose()
        else:
            print("PostgreSQL: none reachable, skipped", flush=True)
        await bus.close()
        rows += await _api_bench(url, db, args.nodes, args.seconds)
    return table(f"projections: {args.nodes} nodes, {args.jobs:,} jobs ({count:,} events)", rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=100)
    parser.add_argument("--jobs", type=int, default=100_000)
    parser.add_argument("--seconds", type=float, default=10.0, help="per API load run")
    args = parser.parse_args()
    with broker() as url:
        print(asyncio.run(run(args, url)))


if __name__ == "__main__":
    main()
