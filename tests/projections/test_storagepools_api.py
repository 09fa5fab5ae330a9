"""Storage pools end to end (issue 15): every write route of `/nodes/{id}/storagepools` runs
once against a real `zos node run` agent on loop devices, through a real `zos api serve`
(SQLite, in-process projectors); the projection is compared with what btrfs reports and with
a rebuild from the log; an agent restart mounts the pools again or reports them missing."""

from __future__ import annotations

import os
from pathlib import Path
from collections.abc import Callable, Iterator

import httpx
import pytest
import sqlalchemy as sa

from tests.conftest import NodeAgent
from tests.node import _btrfs_fixtures as bfx
from tests.node._sys_fixtures import sh
from zos.bus import Bus, call
from zos.projections import make_engine, rebuild, select_projectors, upgrade

from .conftest import dump_tables, start_api, stop, wait_until
from .test_raml_contract import BOOLEAN, INTEGER, RAML, STRING, violations

loops = bfx.loops
MiB = bfx.MiB
TABLES = ["storagepools", "pool_filesystems", "pool_snapshots"]
PROFILES = ("raid0", "raid1", "raid5", "raid6", "raid10", "dup", "single")
# raml/types.raml of zero-os/0-orchestrator (see test_raml_contract for the notation); the
# untyped `capacity` of StoragePoolListItem is an integer in its Go server.
RAML.update({
    "StoragePoolListItem": {  # types.raml:802
        "name": STRING, "capacity": INTEGER, "status": ("healthy", "degraded", "error", "unknown")},
    "StoragePool": {  # types.raml:815
        "name": STRING, "status": ("healthy", "degraded", "error", "unknown"), "totalCapacity": INTEGER,
        "capacity": INTEGER, "metadataProfile": PROFILES, "dataProfile": PROFILES, "mountpoint": STRING},
    "StoragePoolDevice": {  # types.raml:865
        "deviceName": STRING, "uuid": STRING, "status": ("healthy", "removing")},
    "Filesystem": {  # types.raml:880
        "name": STRING, "parent": STRING, "sizeOnDisk": INTEGER, "readOnly": BOOLEAN, "quota": INTEGER,
        "mountpoint": STRING},
    "Snapshot": {  # types.raml:925
        "name": STRING, "sizeOnDisk": INTEGER, "timestamp": INTEGER},
})


@pytest.fixture
def stack(nats_url: str, tmp_path: Path, new_db: Callable[[], str]
          ) -> Iterator[tuple[NodeAgent, httpx.Client, Path, str]]:
    """(agent, API client, pool root, database URL) on SQLite and on PostgreSQL; everything
    mounted is unmounted after."""
    root = tmp_path / "pools"
    root.mkdir()
    agent = NodeAgent(nats_url, tmp_path / "agent", args=("--storagepool-root", str(root))).start()
    db = new_db()
    env = {**os.environ, "ZOS_NATS": nats_url, "ZOS_API_WAIT": "60", "ZOS_DATA": str(tmp_path / "api-data")}
    proc, base = start_api(env, db, "--no-auth")
    try:
        with httpx.Client(base_url=base, timeout=90) as client:
            wait_until(lambda: client.get(f"/nodes/{agent.node_id}").status_code == 200, what="node projected")
            yield agent, client, root, db
    finally:
        stop(proc)
        agent.stop()
        bfx.unmount_under(root)


def _ok(response: httpx.Response, status: int, raml: str | None = None) -> httpx.Response:
    assert response.status_code == status, (response.status_code, response.text)
    if raml is not None:
        assert violations(response.json(), raml) == []
    return response


def _rows(db: str, node: str) -> dict[str, list[dict]]:
    engine = make_engine(db)
    try:
        tables = dump_tables(engine, TABLES)
    finally:
        engine.dispose()
    return {name: [r for r in rows if r["node"] == node] for name, rows in tables.items()}


async def test_storagepools_through_the_api(stack, loops: Callable[[], str], bus: Bus,
                                            new_db: Callable[[], str]) -> None:
    agent, client, root, db = stack
    node = agent.node_id
    base = f"/nodes/{node}/storagepools"
    a, b, c = loops(), loops(), loops()

    # pools
    _ok(client.post(base, json={"name": "p1", "devices": [a, b], "metadataProfile": "raid1",
                                "dataProfile": "single"}), 201)
    pool = _ok(client.get(f"{base}/p1"), 200, "StoragePool").json()  # read-your-writes: no wait needed
    assert pool == {"name": "p1", "capacity": pool["capacity"], "status": "healthy", "totalCapacity": 0,
                    "metadataProfile": "raid1", "dataProfile": "single", "mountpoint": str(root / "p1")}
    assert os.path.ismount(root / "p1")
    assert [p["name"] for p in _ok(client.get(base), 200, "StoragePoolListItem[]").json()] == ["p1"]
    assert _ok(client.post(base, json={"name": "p1", "devices": [c]}), 409)
    error = _ok(client.post(base, json={"name": "p2", "devices": ["/dev/zos-missing"]}), 404).json()
    assert "does not exist" in str(error)
    assert not (root / "p2").exists()

    # devices
    _ok(client.post(f"{base}/p1/devices", json=[c]), 201)
    devices = _ok(client.get(f"{base}/p1/devices"), 200, "StoragePoolDevice[]").json()
    assert sorted(d["deviceName"] for d in devices) == sorted([a, b, c])
    uuid_c = next(d["uuid"] for d in devices if d["deviceName"] == c)
    assert _ok(client.get(f"{base}/p1/devices/{uuid_c}"), 200, "StoragePoolDevice").json()["status"] == "healthy"
    _ok(client.delete(f"{base}/p1/devices/{uuid_c}"), 204)
    assert sorted(d["deviceName"] for d in client.get(f"{base}/p1/devices").json()) == sorted([a, b])
    _ok(client.get(f"{base}/p1/devices/{uuid_c}"), 404)

    # filesystems
    _ok(client.post(f"{base}/p1/filesystems", json={"name": "data", "quota": 8}), 201)
    fs = _ok(client.get(f"{base}/p1/filesystems/data"), 200, "Filesystem").json()
    path = Path(fs["mountpoint"])
    assert fs == {"name": "data", "parent": "p1", "sizeOnDisk": 0, "readOnly": False, "quota": 8,
                  "mountpoint": str(root / "p1" / "filesystems" / "data")}
    assert _ok(client.get(f"{base}/p1/filesystems"), 200, "string[]").json() == ["data"]
    with pytest.raises(OSError):  # past the quota
        with open(path / "big", "wb") as f:
            for _ in range(16):
                f.write(os.urandom(MiB))
                f.flush()
                os.fsync(f.fileno())
    (path / "big").unlink()
    (path / "file").write_text("before")
    _ok(client.post(f"{base}/p1/filesystems", json={"name": "data"}), 409)

    # snapshots and rollback
    _ok(client.post(f"{base}/p1/filesystems/data/snapshots", json={"name": "s.1"}), 201)
    assert _ok(client.get(f"{base}/p1/filesystems/data/snapshots"), 200).json() == ["s.1"]
    snap = _ok(client.get(f"{base}/p1/filesystems/data/snapshots/s.1"), 200, "Snapshot").json()
    assert set(snap) == {"name", "sizeOnDisk", "timestamp"} and snap["timestamp"] > 0
    _ok(client.post(f"{base}/p1/filesystems/nope/snapshots", json={"name": "s2"}), 404)
    (path / "file").write_text("after")
    _ok(client.post(f"{base}/p1/filesystems/data/snapshots/s.1/rollback"), 204)
    assert (path / "file").read_text() == "before"
    _ok(client.post(f"{base}/p1/filesystems/data/snapshots", json={"name": "s2"}), 201)
    _ok(client.delete(f"{base}/p1/filesystems/data/snapshots/s2"), 204)
    assert client.get(f"{base}/p1/filesystems/data/snapshots").json() == ["s.1"]
    _ok(client.post(f"{base}/p1/filesystems", json={"name": "other", "quota": 0, "readOnly": True}), 201)
    assert client.get(f"{base}/p1/filesystems/other").json()["readOnly"] is True

    # the projection says what btrfs says
    result = await call(bus, node, "storagepool.list")
    assert result.ok, result.data
    [actual] = result.value()
    rows = _rows(db, node)
    [row] = rows["storagepools"]
    assert (row["uuid"], row["mountpoint"], row["status"]) == (actual["uuid"], actual["mountpoint"], "healthy")
    assert sorted((d["device"], d["uuid"]) for d in row["devices"]) == \
        sorted((d["device"], d["uuid"]) for d in actual["devices"])
    assert row["size"] == actual["size"]
    assert (row["metadata_profile"], row["data_profile"]) == (actual["metadata_profile"], actual["data_profile"])
    assert {(f["name"], f["path"], f["quota"], f["read_only"]) for f in rows["pool_filesystems"]} == \
        {(f["name"], f["path"], f["quota"], f["read_only"]) for f in actual["filesystems"]}
    assert {(s["filesystem"], s["name"], s["path"]) for s in rows["pool_snapshots"]} == \
        {(f["name"], s["name"], s["path"]) for f in actual["filesystems"] for s in f["snapshots"]}

    # and a rebuild from the log gives the same rows
    rebuilt_url = new_db()
    engine = make_engine(rebuilt_url)
    upgrade(engine)
    try:
        await rebuild(engine, bus, select_projectors(["storagepools"])[0])
    finally:
        engine.dispose()
    assert _rows(rebuilt_url, node) == _rows(db, node)

    # deletes
    _ok(client.delete(f"{base}/p1/filesystems/other"), 204)
    _ok(client.delete(f"{base}/p1/filesystems/data"), 204)
    assert client.get(f"{base}/p1/filesystems").json() == []
    assert not path.exists()
    _ok(client.delete(f"{base}/p1"), 204)
    assert client.get(base).json() == [] and not (root / "p1").exists()
    _ok(client.delete(f"{base}/p1"), 204)  # gone already: still 204


async def test_agent_restart_mounts_pools_again(stack, loops: Callable[[], str]) -> None:
    agent, client, root, db = stack
    node = agent.node_id
    base = f"/nodes/{node}/storagepools"
    a, b, c = loops(), loops(), loops()
    _ok(client.post(base, json={"name": "kept", "devices": [a, b], "metadataProfile": "raid1"}), 201)
    _ok(client.post(f"{base}/kept/filesystems", json={"name": "vol", "quota": 16}), 201)
    (root / "kept" / "filesystems" / "vol" / "file").write_text("survives")
    _ok(client.post(base, json={"name": "lost", "devices": [c]}), 201)

    # A reboot: the agent stops, the mounts are gone; one pool's disk is gone too.
    agent.stop()
    sh("umount", str(root / "kept"))
    sh("umount", str(root / "lost"))
    sh("wipefs", "-a", c)
    agent.start()

    assert os.path.ismount(root / "kept")
    assert (root / "kept" / "filesystems" / "vol" / "file").read_text() == "survives"
    assert not os.path.ismount(root / "lost")

    def statuses() -> dict[str, str]:
        return {p["name"]: p["status"] for p in client.get(base).json()}
    wait_until(lambda: statuses() == {"kept": "healthy", "lost": "error"}, what="pool statuses after restart")
    engine = make_engine(db)
    try:
        with engine.connect() as conn:
            error = conn.execute(sa.text("SELECT error FROM storagepools WHERE node = :n AND name = 'lost'"),
                                 {"n": node}).scalar_one()
    finally:
        engine.dispose()
    assert "no btrfs with uuid" in error
    # The quota survived too (it lives in the filesystem).
    assert client.get(f"{base}/kept/filesystems/vol").json()["quota"] == 16
    _ok(client.delete(f"{base}/kept/filesystems/vol"), 204)
    _ok(client.delete(f"{base}/kept"), 204)
