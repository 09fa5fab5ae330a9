"""Hostile uploads: a clear 4xx, no flist visible, nothing left in the workspace."""

from __future__ import annotations

import gzip
import io
import random
import socket
import tarfile
import time

from .conftest import RunningHub


def _tar_gz(members: list[tuple[str, bytes]]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _post(hub: RunningHub, name: str, body: bytes):
    with hub.client("alice") as alice:
        return alice.post("/api/flist/me/upload", files={"file": (name, body)})


def _no_leftovers(hub: RunningHub, name: str) -> None:
    assert not (hub.users_dir / "alice" / name).exists()
    leftovers = [p.name for p in hub.work_dir.iterdir() if p.name != "cache"]
    assert leftovers == []


def test_wrong_extension(hub: RunningHub) -> None:
    reply = _post(hub, "image.zip", b"PK")
    assert reply.status_code == 400 and ".tar.gz" in reply.json()["message"]


def test_no_file_part(hub: RunningHub) -> None:
    with hub.client("alice") as alice:
        assert alice.post("/api/flist/me/upload", data={"x": "1"}).status_code == 400
        assert alice.post("/api/flist/me/upload", content=b"raw").status_code == 400


def test_dotdot_member(hub: RunningHub) -> None:
    reply = _post(hub, "evil.tar.gz", _tar_gz([("ok", b"1"), ("../../../../tmp/evil", b"x")]))
    assert reply.status_code == 400 and "'..'" in reply.json()["message"]
    _no_leftovers(hub, "evil.flist")


def test_truncated_gzip(hub: RunningHub) -> None:
    rng = random.Random(54)
    body = _tar_gz([(f"f{i}", rng.randbytes(30000)) for i in range(10)])
    reply = _post(hub, "cut.tar.gz", body[: len(body) // 2])
    assert reply.status_code == 400 and "truncated" in reply.json()["message"]
    _no_leftovers(hub, "cut.flist")


def test_not_gzip(hub: RunningHub) -> None:
    reply = _post(hub, "junk.tar.gz", gzip.compress(b"\x07" * 5000))
    assert reply.status_code == 400
    _no_leftovers(hub, "junk.flist")


def test_interrupted_upload_leaves_nothing(hub: RunningHub) -> None:
    """The client sends half of a large upload and disconnects."""
    rng = random.Random(68)
    body = _tar_gz([(f"f{i}", rng.randbytes(200_000)) for i in range(30)])
    boundary = "XyZ123"
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"half.tar.gz\"\r\n"
            f"Content-Type: application/gzip\r\n\r\n").encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    total = len(head) + len(body) + len(tail)
    host, port = hub.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port))) as sock:
        sock.sendall((f"POST /api/flist/me/upload HTTP/1.1\r\nHost: {host}\r\n"
                      f"Authorization: bearer alice-token\r\n"
                      f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
                      f"Content-Length: {total}\r\n\r\n").encode() + head + body[: len(body) // 2])
        time.sleep(1.0)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if [p for p in hub.work_dir.iterdir() if p.name != "cache"] == []:
            break
        time.sleep(0.2)
    _no_leftovers(hub, "half.flist")
    with hub.client() as public:  # the hub still works
        assert public.get("/api/flist").status_code == 200


def test_unsafe_names(hub: RunningHub) -> None:
    with hub.client("alice") as alice:
        assert alice.get("/api/flist/..%2F..%2Fetc/passwd").status_code in (400, 404)
        assert alice.get("/api/flist/me/..flist/link/x.flist").status_code in (400, 404)
    reply = _post(hub, "../../../outside.tar.gz", _tar_gz([("f", b"1")]))
    assert reply.status_code == 200 and reply.json()["payload"]["name"] == "outside.flist"
    assert (hub.users_dir / "alice" / "outside.flist").is_file()
    assert not (hub.data.parent / "outside.flist").exists()
