"""`/nodes/{id}/vms` end to end: `zos api serve` (projectors in process, SQLite) in front of two
real `zos node run` agents and real qemu guests. Every write path runs once."""

from __future__ import annotations

import asyncio
import os
import uuid as uuidlib

import httpx
import pytest

from tests.conftest import NodeAgent
from tests.projections.conftest import start_api, stop

from .conftest import CMDLINE, kill_vms, serial, wait_serial

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root")
TOKEN = "tok-" + uuidlib.uuid4().hex


@pytest.fixture
def api(nats_url, tmp_path):
    env = {**os.environ, "ZOS_NATS": nats_url, "ZOS_API_WAIT": "120", "ZOS_DATA": str(tmp_path / "api-data")}
    proc, base = start_api(env, f"sqlite:///{tmp_path / 'api.db'}", "--api-tokens", TOKEN)
    try:
        yield base
    finally:
        stop(proc)


@pytest.fixture
def second(nats_url, tmp_path):
    node = NodeAgent(nats_url, tmp_path / "agent-b").start()
    try:
        yield node
    finally:
        node.stop()
        kill_vms(node.data_dir)


async def test_vm_routes_against_real_agents(api, agent, second, guest, disk_server):
    a, b = agent.node_id, second.node_id
    vdisk = await asyncio.to_thread(disk_server.create, size="4M")
    async with httpx.AsyncClient(base_url=api, headers={"Authorization": f"Bearer {TOKEN}"},
                                 timeout=180) as client:
        body = {"id": "web", "memory": 96, "cpu": 1,
                "disks": [{"vdiskid": vdisk, "url": disk_server.uri(vdisk)}],
                "kernel": guest["kernel"], "initrd": guest["initrd"],
                "cmdline": CMDLINE.format("idle"), "accel": "tcg"}
        # Bad input first: a disk without a URL, an unknown VM.
        bad = await client.post(f"/nodes/{a}/vms", json={**body, "disks": [{"vdiskid": vdisk}]})
        assert bad.status_code == 400 and "url" in bad.text
        assert (await client.get(f"/nodes/{a}/vms/nope")).status_code == 404
        # Create: read-your-writes, the row is there when the call returns.
        created = await client.post(f"/nodes/{a}/vms", json=body)
        assert created.status_code == 202, created.text
        assert created.headers["Location"] == f"/nodes/{a}/vms/web"
        assert (await client.get(f"/nodes/{a}/vms")).json() == [{"id": "web", "status": "running"}]
        vm = (await client.get(f"/nodes/{a}/vms/web")).json()
        assert (vm["memory"], vm["cpu"], vm["disks"][0]["vdiskid"]) == (96, 1, vdisk)
        twice = await client.post(f"/nodes/{a}/vms", json=body)
        assert twice.status_code == 409
        uuid = next(p.name for p in (agent.data_dir / "vms").iterdir())
        await wait_serial(serial(agent, uuid), "GUEST READY")

        async def status(node: str) -> str:
            return (await client.get(f"/nodes/{node}/vms/web")).json()["status"]
        for action, expected in (("pause", "paused"), ("resume", "running"), ("stop", "halted"),
                                 ("start", "running")):
            resp = await client.post(f"/nodes/{a}/vms/web/{action}")
            assert resp.status_code == 204, (action, resp.text)
            assert await status(a) == expected, action
        await wait_serial(serial(agent, uuid), "GUEST READY")
        info = (await client.get(f"/nodes/{a}/vms/web/info")).json()
        assert set(info) == {"disks", "nics", "cpu"} and len(info["disks"]) == 1
        assert (await client.post(f"/nodes/{a}/vms/web/shutdown")).status_code == 204
        assert await status(a) == "halted"
        assert (await client.post(f"/nodes/{a}/vms/web/start")).status_code == 204
        # Migrate to B: the row moves.
        moved = await client.post(f"/nodes/{a}/vms/web/migrate", json={"nodeid": b})
        assert moved.status_code == 204, moved.text
        assert (await client.get(f"/nodes/{a}/vms")).json() == []
        assert await status(b) == "running"
        # Delete.
        assert (await client.delete(f"/nodes/{b}/vms/web")).status_code == 204
        assert (await client.get(f"/nodes/{b}/vms")).json() == []
