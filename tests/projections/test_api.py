"""Every endpoint's status codes and shapes, against a real `zos api serve` (SQLite and
PostgreSQL), a real broker, and a fake node answering commands."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator

import httpx
import pytest

from zos.bus import connect
from zos.projections.api import mint_token

from ._events import booted
from .conftest import REPO, start_api, start_fake_node, stop, wait_until

TOKEN = "tok-" + uuid.uuid4().hex
SECRET = "s3cret-" + uuid.uuid4().hex


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def api(request: pytest.FixtureRequest, nats_url: str,
        tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """(base URL, fake node id) of an API with auth on and a short write wait."""
    if request.param == "sqlite":
        db = f"sqlite:///{tmp_path_factory.mktemp('api') / 'api.db'}"
    else:
        db = request.getfixturevalue("pg_databases")()
    env = {**os.environ, "ZOS_NATS": nats_url, "ZOS_API_WAIT": "60",
           "ZOS_DATA": str(tmp_path_factory.mktemp("api-data"))}
    node = f"fake-{uuid.uuid4().hex[:8]}"
    fake = start_fake_node(nats_url, node)
    proc, base = start_api(env, db, "--api-tokens", TOKEN, "--api-secret", SECRET)
    try:
        with httpx.Client(base_url=base, headers=_auth(), timeout=30) as client:
            wait_until(lambda: client.get(f"/nodes/{node}").status_code == 200, what="node projected")
        yield base, node
    finally:
        stop(proc)
        stop(fake)


def _auth(token: str = TOKEN) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def client(api: tuple[str, str]) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=api[0], headers=_auth(), timeout=30) as c:
        yield c


@pytest.fixture
def node(api: tuple[str, str]) -> str:
    return api[1]


def _error(resp: httpx.Response, status: int) -> dict:
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert isinstance(body["error"], str) and body["error"] and isinstance(body["code"], str)
    return body


def test_auth(api: tuple[str, str]) -> None:
    with httpx.Client(base_url=api[0], timeout=30) as anon:
        _error(anon.get("/nodes"), 401)
        _error(anon.get("/nodes", headers=_auth("wrong")), 401)
        expired = mint_token(SECRET, "bob", ttl=-10)
        assert "expired" in _error(anon.get("/nodes", headers=_auth(expired)), 401)["error"]
        forged = mint_token("other-secret", "bob")
        assert "signature" in _error(anon.get("/nodes", headers=_auth(forged)), 401)["error"]
        assert anon.get("/nodes", headers=_auth(mint_token(SECRET, "alice"))).status_code == 200
        assert anon.get("/openapi.json").status_code == 200


def test_no_auth_only_on_loopback(zos_env: dict) -> None:
    out = subprocess.run([sys.executable, "-m", "zos", "api", "serve", "--no-auth", "--host", "0.0.0.0"],
                         env=zos_env, cwd=REPO, capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "loopback" in out.stderr
    out = subprocess.run([sys.executable, "-m", "zos", "api", "serve"], env=zos_env, cwd=REPO,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "api_tokens" in out.stderr


def test_nodes(client: httpx.Client, node: str) -> None:
    listed = client.get("/nodes").json()
    mine = [n for n in listed if n["id"] == node]
    assert mine == [{"id": node, "hostname": f"host-{node}", "status": "running",
                     "ipaddress": "10.9.8.7", "version": "fake 1.0"}]
    assert client.get(f"/nodes/{node}").json() == mine[0]
    _error(client.get("/nodes/nope-404"), 404)
    for sub in ("cpus", "mem", "nics", "disks", "info", "mounts", "stats", "state", "jobs",
                "bridges", "processes"):
        _error(client.get(f"/nodes/nope-404/{sub}"), 404)
    _error(client.post("/nodes/nope-404/ping"), 404)


def test_snapshots(client: httpx.Client, node: str) -> None:
    nics = client.get(f"/nodes/{node}/nics")   # from node.booted
    assert nics.status_code == 200 and "X-Zos-Reported-At" in nics.headers
    assert any(n["name"] == "eth0" and n["addrs"] == ["10.9.8.7/24"] for n in nics.json())
    cpus = client.get(f"/nodes/{node}/cpus")   # not reported yet: asked from the node
    assert cpus.json() == [{"cacheSize": 4096, "cores": 1, "family": "6", "flags": ["fpu"], "mhz": 2400.0}]
    mem = client.get(f"/nodes/{node}/mem").json()
    assert mem["total"] == 4 << 30 and mem["usedPercent"] == 50.0 and set(mem) == {
        "active", "available", "buffers", "cached", "free", "inactive", "total", "used",
        "usedPercent", "wired"}
    info = client.get(f"/nodes/{node}/info", params={"max_age": 0}).json()
    assert info["platform"] == "fake"
    assert client.get(f"/nodes/{node}/mounts").json() == [
        {"mountpoint": "/", "device": "/dev/vda1", "opts": "rw", "fstype": "ext4"}]
    assert client.get(f"/nodes/{node}/disks").status_code == 200
    assert client.get(f"/nodes/{node}/stats").status_code == 200
    first = client.get(f"/nodes/{node}/cpus").headers["X-Zos-Reported-At"]
    again = client.get(f"/nodes/{node}/cpus", params={"max_age": 0}).headers["X-Zos-Reported-At"]
    assert again > first
    _error(client.get(f"/nodes/{node}/cpus", params={"max_age": -1}), 400)


def test_state_and_ping(client: httpx.Client, node: str) -> None:
    assert client.get(f"/nodes/{node}/state").json() == {"cpu": 1.5, "rss": 1000, "vms": 2000, "swap": 0}
    resp = client.post(f"/nodes/{node}/ping")
    assert resp.status_code == 200 and resp.json() is True


def test_jobs(client: httpx.Client, node: str, nats_url: str) -> None:
    client.post(f"/nodes/{node}/ping")
    jobs = client.get(f"/nodes/{node}/jobs").json()
    pings = [j for j in jobs if j["name"] == "core.ping"]
    assert pings and set(pings[0]) == {"id", "startTime", "name", "state"}
    # ping is a direct read, not a write: its job reaches the projection just after the answer
    url = f"/nodes/{node}/jobs/{pings[0]['id']}"
    wait_until(lambda: client.get(url).json()["state"] != "running", 30, "the ping job to finish")
    got = client.get(url).json()
    assert got["state"] == "success" and got["data"].startswith('"PONG') and got["level"] == 20
    _error(client.get(f"/nodes/{node}/jobs/nope"), 404)
    assert client.delete(f"/nodes/{node}/jobs/nope").status_code == 204
    assert client.delete(f"/nodes/{node}/jobs/{pings[0]['id']}").status_code == 204  # already over

    # a running job, killed through the API, is over in the very next read
    job = uuid.uuid4().hex

    async def start_sleeper() -> None:
        from zos.events import Command
        bus = await connect(nats_url)
        await bus.send_command(Command(id=job, command="core.system", arguments={"name": "sleep"}), node)
        await bus.close()
    asyncio.run(start_sleeper())
    wait_until(lambda: client.get(f"/nodes/{node}/jobs/{job}").status_code == 200
               and client.get(f"/nodes/{node}/jobs/{job}").json()["state"] == "running",
               what="sleeper running")
    assert client.delete(f"/nodes/{node}/jobs/{job}").status_code == 204
    assert client.get(f"/nodes/{node}/jobs/{job}").json()["state"] == "error"


def test_processes(client: httpx.Client, node: str) -> None:
    procs = client.get(f"/nodes/{node}/processes").json()
    assert {p["pid"] for p in procs} >= {1, 4242}
    assert all({"cmdline", "cpu", "pid", "rss", "swap", "vms"} <= set(p) for p in procs)
    assert client.get(f"/nodes/{node}/processes/4242").json()["cmdline"] == "sleep 1000"
    _error(client.get(f"/nodes/{node}/processes/999999"), 404)
    _error(client.get(f"/nodes/{node}/processes/0"), 400)
    assert client.delete(f"/nodes/{node}/processes/4242").status_code == 204
    _error(client.get(f"/nodes/{node}/processes/4242"), 404)
    assert client.delete(f"/nodes/{node}/processes/4242").status_code == 204
    _error(client.delete(f"/nodes/{node}/processes/1"), 400)


def test_bridges(client: httpx.Client, node: str) -> None:
    name = "b" + uuid.uuid4().hex[:8]
    body = {"name": name, "networkMode": "dnsmasq", "nat": True,
            "setting": {"cidr": "10.77.0.1/24", "start": "10.77.0.10", "end": "10.77.0.99"}}
    resp = client.post(f"/nodes/{node}/bridges", json=body)
    assert resp.status_code == 201, resp.text
    assert resp.headers["Location"] == f"/nodes/{node}/bridges/{name}"
    # read-your-writes: visible in the very next read
    assert client.get(resp.headers["Location"]).json() == {
        "name": name, "hwaddr": "", "networkMode": "dnsmasq", "nat": True, "status": "up",
        "setting": body["setting"]}
    assert name in [b["name"] for b in client.get(f"/nodes/{node}/bridges").json()]
    _error(client.post(f"/nodes/{node}/bridges", json=body), 409)
    overlap = {**body, "name": "o" + name[1:]}
    assert "overlaps" in _error(client.post(f"/nodes/{node}/bridges", json=overlap), 409)["error"]
    for bad, field in (({"networkMode": "static"}, "name"),
                       ({"name": "x" * 16}, "name"),
                       ({"name": "ok", "networkMode": "weird"}, "networkMode"),
                       ({"name": "ok", "networkMode": "static", "setting": {"cidr": "nope"}}, "cidr"),
                       ({"name": "ok", "networkMode": "dnsmasq",
                         "setting": {"cidr": "10.5.0.1/24", "start": "10.6.0.1", "end": "10.5.0.9"}},
                        "outside")):
        assert field in _error(client.post(f"/nodes/{node}/bridges", json=bad), 400)["error"]
    _error(client.post(f"/nodes/{node}/bridges", content=b"{not json",
                       headers={"Content-Type": "application/json"}), 400)
    _error(client.get(f"/nodes/{node}/bridges/missing"), 404)
    assert client.delete(f"/nodes/{node}/bridges/{name}").status_code == 204
    _error(client.get(f"/nodes/{node}/bridges/{name}"), 404)
    assert client.delete(f"/nodes/{node}/bridges/{name}").status_code == 204


def test_events_page_and_stream(client: httpx.Client, node: str) -> None:
    # This node's subject: other tests may have written any number of node events before.
    page = client.get("/events", params={"subject": f"zos.evt.node.{node}", "limit": 1000}).json()
    assert any(e.get("type") == "node.booted" and e["aggregate_id"] == node for e in page["events"])
    for _ in range(3):  # at least three finished jobs, whatever ran before
        client.post(f"/nodes/{node}/ping")
    first = client.get("/events", params={"type": "job.finished", "limit": 2}).json()
    assert len(first["events"]) == 2 and all(e["type"] == "job.finished" for e in first["events"])
    assert first["next"] > first["events"][-1]["seq"]
    second = client.get("/events", params={"type": "job.finished", "limit": 2,
                                           "from_seq": first["next"]}).json()
    assert second["events"][0]["seq"] == first["next"]
    assert client.get("/events", params={"since": "1h", "until": "0s", "limit": 1}).status_code == 200
    assert "since" in _error(client.get("/events", params={"since": "yesterday"}), 400)["error"]
    assert "subject" in _error(client.get("/events", params={"subject": "foo.>"}), 400)["error"]
    _error(client.get("/events", params={"limit": 0}), 400)
    # following from the start shows the same first event as the first page
    oldest = client.get("/events", params={"aggregate": "node", "limit": 1}).json()["events"][0]
    seen = []
    with client.stream("GET", "/events", params={"aggregate": "node"},
                       headers={"Accept": "text/event-stream"}) as resp:
        assert resp.headers["content-type"].startswith("text/event-stream")
        for line in resp.iter_lines():
            if line.startswith("event: "):
                seen.append(line[7:])
            if len(seen) >= 1:
                break
    assert seen and seen[0] == oldest["type"]


def test_timeout_is_504_with_job_id(client: httpx.Client, nats_url: str) -> None:
    silent = f"silent-{uuid.uuid4().hex[:8]}"

    async def boot() -> None:
        bus = await connect(nats_url)
        await bus.append(booted(silent))
        await bus.close()
    asyncio.run(boot())
    wait_until(lambda: client.get(f"/nodes/{silent}").status_code == 200, what="silent node")
    body = _error(client.post(f"/nodes/{silent}/ping", headers={"Prefer": "wait=2"}), 504)
    assert body["details"]["job"] and body["details"]["job"] in body["error"]


def test_flists_vdisks_and_clusters(client: httpx.Client, nats_url: str) -> None:
    from zos.events import new_event

    user, cluster, vdisk = f"u{uuid.uuid4().hex[:8]}", f"c{uuid.uuid4().hex[:8]}", f"v{uuid.uuid4().hex[:8]}"
    events = [
        new_event("flist.uploaded", "flist", f"{user}/a.flist", {"user": user, "name": "a.flist",
                  "size": 10, "md5": "m" * 32, "source": "tar"}),
        new_event("flist.uploaded", "flist", f"{user}/b.flist", {"user": user, "name": "b.flist",
                  "size": 20, "md5": "n" * 32, "source": "tar"}),
        new_event("flist.renamed", "flist", f"{user}/b.flist", {"user": user, "name": "b.flist",
                  "new_name": "c.flist"}),
        new_event("flist.linked", "flist", f"{user}/latest", {"user": user, "name": "latest",
                  "target_user": user, "target": "a.flist", "kind": "link"}),
        new_event("flist.tagged", "flist", f"{user}/v1", {"user": user, "name": "a.flist", "tag": "v1",
                  "target_user": user, "target": "a.flist"}),
        new_event("storagecluster.created", "storagecluster", cluster, {"label": cluster, "servers": [
            {"address": "127.0.0.1:6379", "db": 0, "state": "ok"}]}),
        new_event("vdisk.created", "vdisk", vdisk, {"name": vdisk, "size": 2 << 30, "block_size": 4096,
                  "type": "boot", "storage": f"cluster:{cluster}"}),
        new_event("vdisk.resized", "vdisk", vdisk, {"name": vdisk, "size": 3 << 30, "old_size": 2 << 30}),
        new_event("vdisk.attached", "vdisk", vdisk, {"name": vdisk, "server": "s1"}),
    ]

    async def publish() -> None:
        bus = await connect(nats_url)
        await bus.append_many(events)
        await bus.close()
    asyncio.run(publish())
    wait_until(lambda: client.get(f"/vdisks/{vdisk}").status_code == 200, what="vdisk projected")
    listed = client.get(f"/flists/{user}").json()
    assert [(f["name"], f["type"]) for f in listed] == [
        ("a.flist", "regular"), ("c.flist", "regular"), ("latest", "symlink"), ("v1", "tag")]
    assert client.get("/flists", params={"repo": user}).json() == listed
    one = client.get(f"/flists/{user}/latest").json()
    assert one["target"] == f"{user}/a.flist" and one["type"] == "symlink"
    assert client.get(f"/flists/{user}/v1").json()["entries"] == {"a.flist": f"{user}/a.flist"}
    _error(client.get(f"/flists/{user}/b.flist"), 404)
    _error(client.get("/flists/nobody-here"), 404)
    assert client.get(f"/vdisks/{vdisk}").json() == {
        "id": vdisk, "type": "boot", "vdiskstorage": f"cluster:{cluster}", "status": "running",
        "size": 3, "blocksize": 4096, "readOnly": False, "templatevdisk": None}
    # RAML VdiskListItem requires `status` (issue 12 §5); it was missing before
    assert {"id": vdisk, "status": "running", "type": "boot",
            "vdiskstorage": f"cluster:{cluster}"} in client.get("/vdisks").json()
    _error(client.get("/vdisks/missing"), 404)
    assert cluster in client.get("/storageclusters").json()
    got = client.get(f"/storageclusters/{cluster}").json()
    assert got["status"] == "ready" and got["storageServers"][0]["port"] == 6379
    _error(client.get("/storageclusters/missing"), 404)


def test_vdisk_writes(client: httpx.Client) -> None:
    name = f"vd{uuid.uuid4().hex[:8]}"
    body = {"id": name, "size": 1, "blocksize": 4096, "type": "cache"}
    # create: 201 + Location, visible in the very next read (read-your-writes)
    created = client.post("/vdisks", json=body)
    assert created.status_code == 201 and created.headers["Location"] == f"/vdisks/{name}"
    got = client.get(f"/vdisks/{name}").json()
    assert (got["size"], got["blocksize"], got["type"], got["vdiskstorage"]) == (1, 4096, "cache", "rocksdb")
    assert "already exists" in _error(client.post("/vdisks", json=body), 409)["error"]
    assert "type" in _error(client.post("/vdisks", json={**body, "id": name + "x", "type": "fast"}), 400)["error"]
    assert "block size" in _error(client.post("/vdisks", json={**body, "id": name + "y", "blocksize": 1000}),
                                  400)["error"]
    _error(client.post("/vdisks", json={"size": 1, "type": "cache"}), 400)
    # resize: grow only
    assert client.post(f"/vdisks/{name}/resize", json={"newSize": 2}).status_code == 204
    assert client.get(f"/vdisks/{name}").json()["size"] == 2
    assert "newSize" in _error(client.post(f"/vdisks/{name}/resize", json={"newSize": 1}), 400)["error"]
    _error(client.post("/vdisks/nope/resize", json={"newSize": 3}), 404)
    # delete: 204, gone at once, 204 again when absent
    assert client.delete(f"/vdisks/{name}").status_code == 204
    _error(client.get(f"/vdisks/{name}"), 404)
    assert client.delete(f"/vdisks/{name}").status_code == 204
