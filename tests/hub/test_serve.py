"""`zos hub serve` configurations: local admin token, read-only mirror mode, `zos up` block."""

from __future__ import annotations

import random
import stat
from pathlib import Path

import httpx

from zos.up import plan

from .conftest import start_hub


def test_admin_token_when_none_configured(tmp_path: Path, nats_url: str) -> None:
    hub = start_hub(tmp_path, nats_url, tokens=False)
    try:
        token_file = hub.data / "hub" / "token"
        assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
        token = token_file.read_text().strip()
        with httpx.Client(base_url=hub.url, timeout=60) as client:
            me = client.get("/api/flist/me", headers={"Authorization": f"bearer {token}"})
            assert me.json()["payload"] == {"username": "admin"}
            assert client.get("/api/flist/me", headers={"Authorization": "bearer x"}).status_code == 401
    finally:
        hub.proc.terminate()
        hub.proc.wait(20)


def test_readonly_refuses_changes(tmp_path: Path, nats_url: str) -> None:
    hub = start_hub(tmp_path, nats_url, "--readonly")
    try:
        with hub.client("alice") as alice:
            assert alice.get("/api/flist/me").status_code == 403
            assert alice.put("/api/chunks/" + "0" * 32, content=b"x").status_code == 403
            assert alice.get("/api/flist").status_code == 200
    finally:
        hub.proc.terminate()
        hub.proc.wait(20)


def test_upload_size_limit(tmp_path: Path, nats_url: str) -> None:
    hub = start_hub(tmp_path, nats_url, env_extra={"ZOS_MAX_UPLOAD_SIZE": "100000"})
    try:
        with hub.client("alice") as alice:
            reply = alice.post("/api/flist/me/upload", files={"file": ("big.tar.gz", random.Random(47).randbytes(300_000))})
            assert reply.status_code == 413 and "limit of 100000" in reply.json()["message"]
        assert not (hub.users_dir / "alice" / "big.flist").exists()
    finally:
        hub.proc.terminate()
        hub.proc.wait(20)


def test_up_plan_has_the_hub(tmp_path: Path) -> None:
    stack, services = plan(tmp_path, "nats://127.0.0.1:4222", "n1")
    assert stack["hub"].startswith("http://127.0.0.1:")
    hub = next(s for s in services if s.name == "hub")
    assert hub.argv[-6:-2] == ["--listen", "127.0.0.1", "--port", stack["hub"].rsplit(":", 1)[1]]
