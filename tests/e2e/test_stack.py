"""The whole local stack as a user starts it: `zos up`, then every address in stack.json works,
and Ctrl-C leaves nothing behind."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid

import httpx
import pytest
import redis

from tests.conftest import alive, descendants

ZOS = [sys.executable, "-m", "zos"]


@pytest.fixture
def stack(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZOS_")}
    data = tmp_path / "stack"
    proc = subprocess.Popen([*ZOS, "up", "--data", str(data), "--node-id", "e2e-" + uuid.uuid4().hex[:6]],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 240
        while not (data / "stack.json").exists():
            if proc.poll() is not None:
                logs = "\n".join(f"--- {p.name}\n{p.read_text()[-3000:]}" for p in (data / "logs").glob("*.log"))
                pytest.fail(f"zos up exited {proc.returncode}: {proc.stderr.read()}\n{logs}")
            assert time.monotonic() < deadline, "stack.json never appeared"
            time.sleep(0.2)
        yield proc, json.loads((data / "stack.json").read_text()), data
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            proc.wait(30)


def test_every_address_in_stack_json_works_and_ctrl_c_cleans_up(stack):
    proc, addresses, data = stack
    assert {"nats", "node", "bridge", "api", "hub", "nbd", "db"} <= set(addresses)
    for key in ("nats", "bridge", "api", "hub"):
        assert "127.0.0.1:" in addresses[key], (key, addresses[key])
    node = addresses["node"]

    # The 0-core way: RPUSH core:default, then the result list, through the bridge.
    r = redis.Redis.from_url(addresses["bridge"], socket_timeout=60)
    assert r.ping()
    job = str(uuid.uuid4())
    r.rpush("core:default", json.dumps({"id": job, "command": "core.system", "arguments": {
        "name": "echo", "args": ["hello"]}, "queue": None, "max_time": None, "stream": False, "tags": None}))
    _key, raw = r.blpop([f"result:{job}"], timeout=60)
    result = json.loads(raw)
    assert result["state"] == "SUCCESS" and result["streams"][0] == "hello\n"

    # The API's projection knows the node and the job.
    with httpx.Client(base_url=addresses["api"], timeout=30) as api:
        deadline = time.monotonic() + 60
        while True:
            nodes = api.get("/nodes")
            assert nodes.status_code == 200
            if any(n.get("id") == node for n in nodes.json()):
                break
            assert time.monotonic() < deadline, nodes.json()
            time.sleep(0.5)
        deadline = time.monotonic() + 60
        while api.get(f"/nodes/{node}/jobs/{job}").status_code != 200:
            assert time.monotonic() < deadline
            time.sleep(0.5)

    # The hub answers.
    assert httpx.get(addresses["hub"] + "/", timeout=30, follow_redirects=True).status_code == 200

    # A vdisk created through the API is served by the NBD server, no restart: a real NBD
    # client sees it with its size.
    vdisk = "vd" + uuid.uuid4().hex[:8]
    created = httpx.post(addresses["api"] + "/vdisks", json={"id": vdisk, "size": 1, "type": "cache"},
                         timeout=60)
    assert created.status_code == 201, created.text
    if shutil.which("nbdinfo"):
        uri = addresses["nbd"].replace(":///?", f":///{vdisk}?")
        deadline = time.monotonic() + 60
        while True:
            out = subprocess.run(["nbdinfo", "--json", uri], capture_output=True, text=True, timeout=60)
            if out.returncode == 0 or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert out.returncode == 0, out.stderr
        assert json.loads(out.stdout)["exports"][0]["export-size"] == 1 << 30
    resized = httpx.post(addresses["api"] + f"/vdisks/{vdisk}/resize", json={"newSize": 2}, timeout=60)
    assert resized.status_code == 204, resized.text
    assert httpx.get(addresses["api"] + f"/vdisks/{vdisk}", timeout=30).json()["size"] == 2
    # Delete: the blocks go where the stack keeps them (the API's data dir), then the event.
    deleted = httpx.delete(addresses["api"] + f"/vdisks/{vdisk}", timeout=60)
    assert deleted.status_code == 204, deleted.text
    assert httpx.get(addresses["api"] + f"/vdisks/{vdisk}", timeout=30).status_code == 404

    # Ctrl-C: everything stops, nothing is left running.
    children = descendants(proc.pid)
    assert children
    proc.send_signal(signal.SIGINT)
    assert proc.wait(90) == 0, proc.stderr.read()
    assert not [pid for pid in children if alive(pid)]
    assert not (data / "stack.json").exists()
