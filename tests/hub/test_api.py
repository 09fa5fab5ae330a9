"""The hub end to end over HTTP: upload, listings, downloads, links, tags, merge, chunk API,
events on the bus."""

from __future__ import annotations

import hashlib
import io
import os
import random
import subprocess
import tarfile
import uuid
from pathlib import Path

import pytest

from zos.bus import aggregate_filter
from zos.fs import DirStore, HttpStore, check, create_flist, encode_chunk, open_flist

from ..flist.conftest import make_tree
from .conftest import RunningHub


def tar_gz(tree: Path, out: Path) -> Path:
    subprocess.run(["tar", "-czf", str(out), "--numeric-owner", "-C", str(tree), "."], check=True)
    return out


def upload(hub: RunningHub, user: str, archive: Path, name: str | None = None, **fields: str):
    with hub.client(user) as client, open(archive, "rb") as handle:
        return client.post("/api/flist/me/upload", files={"file": (name or archive.name, handle)},
                           data=fields)


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    tmp = tmp_path_factory.mktemp("src")
    tree = make_tree(tmp / "tree")
    (tree / ".README.md").write_text("# hello\n")
    return tree, tar_gz(tree, tmp / "image.tar.gz")


def test_upload_and_read_back_over_http(hub: RunningHub, source: tuple[Path, Path], tmp_path: Path) -> None:
    tree, archive = source
    reply = upload(hub, "alice", archive, **{"metadata-author": '"me"', "metadata-entrypoint": '["/x"]'})
    assert reply.status_code == 200, reply.text
    assert reply.json()["payload"]["name"] == "image.flist"
    assert reply.json()["payload"]["files"]["hardlink"] == 1
    assert reply.headers["access-control-allow-origin"] == "*"
    assert reply.text.endswith("\n")
    with hub.client() as client:
        listing = client.get("/api/flist/alice").json()
        entry = next(e for e in listing if e["name"] == "image.flist")
        assert entry["type"] == "regular" and entry["size"].endswith(" KB")
        assert "alice/image.flist" in client.get("/api/flist").json()
        info = client.request("INFO", "/api/flist/alice/image.flist").json()
        flist_bytes = client.get("/alice/image.flist").content
        assert info["md5"] == hashlib.md5(flist_bytes).hexdigest() == \
            client.get("/alice/image.flist.md5").text.strip()
        assert client.get("/api/flist/alice/image.flist/light").json() == info
        meta = client.get("/api/flist/alice/image.flist/metadata").json()
        assert meta["readme"] == {"readme": "# hello\n"}
        assert meta["author"] == "me" and "entrypoint" not in meta  # protected key
        assert meta["backend"]["url"] == hub.url
        contents = client.get("/api/flist/alice/image.flist").json()
        paths = {c["path"] for c in contents["content"]}
        assert {"/etc/hostname", "/multi", "/fifo", "/rel-link"} <= paths
        assert contents["regular"] >= 9 and contents["symlink"] == 2
        repos = client.get("/api/repositories").json()
        assert any(r["name"] == "alice" for r in repos)
        assert client.get("/alice/image.json").json()["checksum"] == info["md5"]
        assert client.get("/alice/image.txt").text == f"{hub.url}/alice/image.flist\n"
        assert any(e["name"] == "image.flist" for e in client.get("/api/fileslist").json()["alice"])
        assert client.get("/api/flist/nobody").status_code == 404
        assert client.get("/api/flist/alice/none.flist").status_code == 404
    (tmp_path / "dl.flist").write_bytes(flist_bytes)
    with open_flist(tmp_path / "dl.flist") as fl, HttpStore(hub.url) as remote:
        # chunks come from the hub's chunk API (the flist's metadata.backend), nothing local
        stores = fl.stores()
        assert any(isinstance(s, HttpStore) for s in stores)
        for entry in fl.walk():
            if entry.kind == "file":
                want = (tree / os.fsdecode(entry.path)).read_bytes()
                assert b"".join(fl.iter_content(entry, [remote])) == want
        assert check(fl, [remote]) == {"missing": [], "corrupt": []}
        console = [e for e in fl.walk() if e.kind == "fifo"]
        assert console and console[0].path == b"fifo"


def test_authentication(hub: RunningHub, source: tuple[Path, Path]) -> None:
    with hub.client() as anonymous:
        assert anonymous.get("/api/flist/me").status_code == 401
        bad = anonymous.get("/api/flist/me", headers={"Authorization": "bearer nope"})
        assert bad.status_code == 401 and bad.json()["status"] == "error"
    with hub.client("alice") as alice:
        assert alice.get("/api/flist/me").json()["payload"] == {"username": "alice"}
        alice.cookies.set("active-user", "team")
        assert alice.get("/api/flist/me").json()["payload"] == {"username": "team"}
    with hub.client("bob") as bob:
        bob.cookies.set("active-user", "alice")
        assert bob.get("/api/flist/me").status_code == 403


def test_links_tags_rename_promote_delete(hub: RunningHub, source: tuple[Path, Path]) -> None:
    _, archive = source
    assert upload(hub, "bob", archive, name="base.tar.gz").status_code == 200
    with hub.client("bob") as bob, hub.client() as public:
        assert bob.get("/api/flist/me/base.flist/link/latest.flist").status_code == 200
        listing = {e["name"]: e for e in public.get("/api/flist/bob").json()}
        assert listing["latest.flist"]["type"] == "symlink" and listing["latest.flist"]["target"] == "base.flist"
        assert public.get("/bob/latest.flist").content == public.get("/bob/base.flist").content
        # a link may not replace a regular flist
        assert bob.get("/api/flist/me/latest.flist/link/base.flist").status_code == 409
        assert bob.get("/api/flist/me/nothere.flist/link/x.flist").status_code == 404
        assert bob.get("/api/flist/me/base.flist/rename/renamed.flist").status_code == 200
        assert public.get("/bob/base.flist").status_code == 404
        assert bob.get("/api/flist/me/promote/alice/image.flist/copy.flist").json()["payload"]["destination"] \
            == {"username": "bob", "filename": "copy.flist"}
        assert public.get("/bob/copy.flist").content == public.get("/alice/image.flist").content
        assert bob.get("/api/flist/me/xl.flist/crosslink/alice/image.flist").status_code == 200
        assert public.get("/api/flist/bob").json() and \
            {e["name"]: e for e in public.get("/api/flist/bob").json()}["xl.flist"]["target"] == "alice/image.flist"
        assert bob.get("/api/flist/me/v1/img/tag/bob/copy.flist").status_code == 200
        tagged = public.get("/api/flist/bob/tags/v1").json()
        assert [t["name"] for t in tagged] == ["img"]
        assert public.get("/bob/tags/v1/img.flist").content == public.get("/bob/copy.flist").content
        assert bob.get("/api/flist/me/stable/crosstag/bob/v1").status_code == 200
        assert public.get("/api/flist/bob/stable/taglink").json() == {"target": "bob/tags/v1"}
        assert bob.get("/api/flist/me/copy/crosstag/bob/v1").status_code == 409  # clashes with copy.flist
        assert bob.delete("/api/flist/me/v1/img/tag/bob/copy.flist").status_code == 200
        assert public.get("/api/flist/bob/tags/v1").status_code == 404  # empty tag removed
        assert bob.delete("/api/flist/me/copy.flist").status_code == 200
        assert bob.delete("/api/flist/me/copy.flist").status_code == 404
        names = {e["name"] for e in public.get("/api/flist/bob").json()}
        assert "copy.flist" not in names and "renamed.flist" in names


async def test_events_on_the_bus(hub: RunningHub, source: tuple[Path, Path], bus) -> None:
    _, archive = source
    name = f"ev-{uuid.uuid4().hex[:8]}"
    assert upload(hub, "alice", archive, name=f"{name}.tar.gz").status_code == 200
    with hub.client("alice") as alice:
        assert alice.get(f"/api/flist/me/{name}.flist/rename/{name}-2.flist").status_code == 200
        assert alice.delete(f"/api/flist/me/{name}-2.flist").status_code == 200
    seen = []
    async for delivered in bus.replay(aggregate_filter("flist")):
        event = delivered.event
        if event is not None and event.data.get("name", "").startswith(name):
            seen.append((event.type, event.data["name"], event.actor))
    assert seen == [("flist.uploaded", f"{name}.flist", "user:alice"),
                    ("flist.renamed", f"{name}.flist", "user:alice"),
                    ("flist.deleted", f"{name}-2.flist", "user:alice")]


def test_upload_flist_requires_every_chunk(hub: RunningHub, tmp_path: Path) -> None:
    local = DirStore(tmp_path / "local")
    src = tmp_path / "t"
    src.mkdir()
    (src / "unique").write_bytes(random.Random(158).randbytes(700_000))  # in no other test
    create_flist(src, tmp_path / "mine.flist", local)
    original = (tmp_path / "mine.flist").read_bytes()
    with hub.client("alice") as alice:
        refused = alice.post("/api/flist/me/upload-flist", files={"file": ("mine.flist", original)})
        assert refused.status_code == 422 and "2 of 2 chunks" in refused.json()["message"]
        assert alice.get("/api/flist/alice/mine.flist").status_code == 404
    with open_flist(tmp_path / "mine.flist") as fl, HttpStore(hub.url, token="alice-token") as remote:
        from zos.fs import copy_chunks
        assert copy_chunks(fl, [local], remote) == 2
    with hub.client("alice") as alice:
        accepted = alice.post("/api/flist/me/upload-flist", files={"file": ("mine.flist", original)})
        assert accepted.status_code == 200, accepted.text
        assert alice.get("/alice/mine.flist").content == original  # original bytes unchanged
        junk = alice.post("/api/flist/me/upload-flist", files={"file": ("junk.flist", b"junk" * 100)})
        assert junk.status_code == 400


def test_merge(hub: RunningHub, tmp_path: Path) -> None:
    for user, files in (("alice", {"a/one": b"1", "same": b"alice"}), ("bob", {"a/two": b"2", "same": b"bob"})):
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w:gz") as tar:
            for path, data in files.items():
                info = tarfile.TarInfo(path)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
        (tmp_path / f"{user}.tar.gz").write_bytes(buf.getvalue())
        assert upload(hub, user, tmp_path / f"{user}.tar.gz", name="part.tar.gz").status_code == 200
    with hub.client("alice") as alice:
        merged = alice.post("/api/flist/me/merge/merged", json=["alice/part.flist", "bob/part"])
        assert merged.status_code == 200, merged.text
        assert merged.json()["payload"]["collisions"] == 1
        paths = {c["path"] for c in alice.get("/api/flist/alice/merged.flist").json()["content"]}
        assert paths == {"/a", "/a/one", "/a/two", "/same"}
        assert alice.post("/api/flist/me/merge/x", json=["alice/part.flist"]).status_code == 400
        assert alice.post("/api/flist/me/merge/x", json=["alice/part", "nobody/none"]).status_code == 404
        assert alice.post("/api/flist/me/merge/a%2Fb", json=["alice/part", "bob/part"]).status_code in (400, 404)


def test_chunk_api(hub: RunningHub) -> None:
    chunk_id, key, cipher = encode_chunk(random.Random(198).randbytes(1000))
    with hub.client() as public, hub.client("alice") as alice:
        assert public.get("/api/chunks/nothex").status_code == 400
        assert public.get(f"/api/chunks/{chunk_id.hex()}").status_code == 404
        assert public.put(f"/api/chunks/{chunk_id.hex()}", content=cipher).status_code == 401
        assert alice.put(f"/api/chunks/{chunk_id.hex()}", content=cipher + b"x").status_code == 400
        assert alice.put(f"/api/chunks/{chunk_id.hex()}", content=cipher).status_code == 201
        assert alice.put(f"/api/chunks/{chunk_id.hex()}", content=cipher).status_code == 200
        got = public.get(f"/api/chunks/{chunk_id.hex()}")
        assert got.content == cipher and got.headers["etag"] == f'"{chunk_id.hex()}"'
        assert "immutable" in got.headers["cache-control"]
        head = public.head(f"/api/chunks/{chunk_id.hex()}")
        assert head.status_code == 200 and int(head.headers["content-length"]) == len(cipher)
        other = encode_chunk(b"never stored")[0].hex()
        missing = public.post("/api/chunks/missing", json=[chunk_id.hex(), other]).json()
        assert missing == {"status": "success", "payload": {"missing": [other]}}
        big = random.Random(214).randbytes((1 << 20) + 10)
        assert alice.put(f"/api/chunks/{hashlib.blake2b(big, digest_size=16).hexdigest()}",
                         content=big).status_code == 413
        assert public.post("/api/chunks/missing", json=["zz"]).status_code == 400
