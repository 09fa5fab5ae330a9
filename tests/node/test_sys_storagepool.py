"""Storage pools, filesystems and snapshots (issue 15) on loop devices: each change checked on
disk and in the domain events the builtin records; bad input leaves nothing behind."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from collections.abc import Callable

import pytest

from tests.node import _btrfs_fixtures as bfx
from tests.node._sys_fixtures import call, sh
from zos.node.builtins import BuiltinError, Context
from zos.node.builtins.storagepool import exchange, volume_path

loops, pool_root, pool_ctx = bfx.loops, bfx.pool_root, bfx.pool_ctx
MiB = bfx.MiB


def events(ctx: Context) -> list[tuple[str, str, dict]]:
    """The events recorded since the last call (the context keeps collecting)."""
    got = [(e.type, e.aggregate_id, e.data) for e in ctx.changes]
    ctx.changes.clear()
    return got


def write(path: Path, mib: int) -> None:
    with open(path, "wb") as f:
        for _ in range(mib):
            f.write(os.urandom(MiB))
            f.flush()
            os.fsync(f.fileno())


def test_pool_lifecycle(loops: Callable[[], str], pool_root: Path, pool_ctx: Context) -> None:
    a, b, c = loops(), loops(), loops()
    facts = call("storagepool.create", {"name": "p1", "devices": [a, b], "metadata_profile": "raid1",
                                        "data_profile": "single"}, pool_ctx)
    mp = pool_root / "p1"
    assert os.path.ismount(mp) and facts["mountpoint"] == str(mp)
    assert (facts["metadata_profile"], facts["data_profile"]) == ("raid1", "single")
    assert {d["device"] for d in facts["devices"]} == {a, b} and all(d["uuid"] for d in facts["devices"])
    [(kind, agg, data)] = events(pool_ctx)
    assert (kind, agg) == ("storagepool.created", "n1-p1")
    assert data["uuid"] == facts["uuid"] and data["size"] == 2 * bfx.LOOP_SIZE and data["label"] == "sp_p1"

    added = call("storagepool.device_add", {"name": "p1", "devices": [c]}, pool_ctx)
    assert added["size"] == 3 * bfx.LOOP_SIZE
    assert events(pool_ctx)[0][0] == "storagepool.device_added"
    uuid_c = added["devices"][0]["uuid"]
    removed = call("storagepool.device_remove", {"name": "p1", "devices": [uuid_c]}, pool_ctx)
    assert removed["devices"] == [{"device": c, "uuid": uuid_c}] and removed["size"] == 2 * bfx.LOOP_SIZE
    assert events(pool_ctx)[0][0] == "storagepool.device_removed"
    assert {d["device"] for d in call("storagepool.info", {"name": "p1"}, pool_ctx)["devices"]} == {a, b}

    with pytest.raises(BuiltinError) as exc:
        call("storagepool.create", {"name": "p1", "devices": [c]}, pool_ctx)
    assert exc.value.code == 409
    with pytest.raises(BuiltinError) as exc:
        call("storagepool.device_remove", {"name": "p1", "devices": [c]}, pool_ctx)
    assert exc.value.code == 404

    call("storagepool.delete", {"name": "p1"}, pool_ctx)
    assert not mp.exists() and events(pool_ctx)[0][:2] == ("storagepool.deleted", "n1-p1")
    assert call("storagepool.list", {}, pool_ctx) == []
    # The devices are free again: a new pool may use them without overwrite.
    call("storagepool.create", {"name": "p2", "devices": [a]}, pool_ctx)


def test_bad_pool_input_leaves_nothing(loops: Callable[[], str], pool_root: Path, pool_ctx: Context,
                                       tmp_path: Path) -> None:
    a, b = loops(), loops()
    busy = tmp_path / "busy"
    busy.mkdir()
    sh("mkfs.ext4", "-q", b)
    sh("mount", b, str(busy))
    try:
        for args, code in [({"name": "p1", "devices": ["/dev/zos-missing"]}, 404),
                           ({"name": "p1", "devices": [a, b]}, 412),          # b is mounted
                           ({"name": "p1", "devices": [a], "data_profile": "raid9"}, 400),
                           ({"name": "Bad/Name", "devices": [a]}, 400),
                           ({"name": "p1", "devices": [a, a]}, 400)]:
            with pytest.raises(BuiltinError) as exc:
                call("storagepool.create", args, pool_ctx)
            assert exc.value.code == code, (args, exc.value.message)
            assert list(pool_root.iterdir()) == [] and events(pool_ctx) == []
        # raid1 data on one device: mkfs refuses; nothing is mounted, nothing left.
        with pytest.raises(BuiltinError):
            call("storagepool.create", {"name": "p1", "devices": [a], "data_profile": "raid1"}, pool_ctx)
        assert list(pool_root.iterdir()) == [] and events(pool_ctx) == []
    finally:
        sh("umount", str(busy), check=False)


def test_failed_mount_takes_create_back(loops: Callable[[], str], pool_root: Path, pool_ctx: Context,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """A failure after mkfs (here: the mount) unmounts, removes the mount point and wipes the
    device: no pool, no label left to collide with, no event."""
    from zos.node.builtins import storagepool

    def broken(devices: list[str], mountpoint: Path) -> None:
        raise BuiltinError(500, "mount: simulated failure")
    monkeypatch.setattr(storagepool, "_mount", broken)
    device = loops()
    with pytest.raises(BuiltinError) as exc:
        call("storagepool.create", {"name": "p1", "devices": [device]}, pool_ctx)
    assert "simulated" in exc.value.message
    assert list(pool_root.iterdir()) == [] and events(pool_ctx) == []
    assert sh("blkid", "-p", "-o", "export", device, check=False).stdout.strip() == ""
    monkeypatch.undo()
    call("storagepool.create", {"name": "p1", "devices": [device]}, pool_ctx)  # no overwrite needed


def test_filesystems_quota_snapshot_rollback(loops: Callable[[], str], pool_root: Path,
                                              pool_ctx: Context) -> None:
    call("storagepool.create", {"name": "p1", "devices": [loops()]}, pool_ctx)
    events(pool_ctx)
    fs = call("storagepool.filesystem_create", {"pool": "p1", "name": "data", "quota": 8 * MiB}, pool_ctx)
    path = Path(fs["path"])
    assert path == pool_root / "p1" / "filesystems" / "data"
    assert volume_path(pool_ctx.config, "storagepool://p1/data") == path
    assert volume_path(pool_ctx.config, "storagepool://p1/data/sub") == path / "sub"
    assert events(pool_ctx) == [("filesystem.created", "n1-p1-data",
                                 {"node": "n1", "pool": "p1", "name": "data", "path": str(path),
                                  "quota": 8 * MiB, "read_only": False})]
    with pytest.raises(OSError):  # writing past the quota fails
        write(path / "big", 16)
    (path / "big").unlink()
    (path / "file").write_text("before")
    (path / "keep").write_bytes(os.urandom(2 * MiB))
    os.sync()

    with pytest.raises(BuiltinError) as exc:  # quota below what it holds
        call("storagepool.filesystem_quota", {"pool": "p1", "name": "data", "quota": MiB}, pool_ctx)
    assert exc.value.code == 412 and "below" in exc.value.message
    call("storagepool.filesystem_quota", {"pool": "p1", "name": "data", "quota": 32 * MiB}, pool_ctx)
    [(kind, _, data)] = events(pool_ctx)
    assert kind == "filesystem.quota_set" and data["quota"] == 32 * MiB and data["used"] >= 2 * MiB

    snap = call("storagepool.snapshot_create", {"pool": "p1", "filesystem": "data", "name": "s.1"}, pool_ctx)
    [(kind, agg, data)] = events(pool_ctx)
    assert kind == "snapshot.created" and agg.startswith("h_") and data["name"] == "s.1"
    with pytest.raises(OSError):
        Path(snap["path"], "file").write_text("changed")
    (path / "file").write_text("after")
    (path / "new").write_text("new")

    call("storagepool.snapshot_rollback", {"pool": "p1", "filesystem": "data", "name": "s.1"}, pool_ctx)
    assert (path / "file").read_text() == "before" and not (path / "new").exists()
    assert [e[0] for e in events(pool_ctx)] == ["snapshot.rolled_back"]
    info = call("storagepool.filesystem_info", {"pool": "p1", "name": "data"}, pool_ctx)
    assert info["quota"] == 32 * MiB and not info["read_only"]
    assert [s["name"] for s in info["snapshots"]] == ["s.1"]
    assert sorted(p.name for p in (pool_root / "p1" / "filesystems").iterdir()) == ["data"]
    with pytest.raises(OSError):  # the quota still holds after the rollback
        write(path / "big", 40)

    for args in [{"pool": "p1", "filesystem": "nope", "name": "s2"},   # snapshot of a missing fs
                 {"pool": "p9", "filesystem": "data", "name": "s2"}]:
        with pytest.raises(BuiltinError) as exc:
            call("storagepool.snapshot_create", args, pool_ctx)
        assert exc.value.code == 404
    with pytest.raises(BuiltinError) as exc:
        call("storagepool.filesystem_create", {"pool": "p1", "name": "data"}, pool_ctx)
    assert exc.value.code == 409
    assert events(pool_ctx) == []

    call("storagepool.filesystem_delete", {"pool": "p1", "name": "data"}, pool_ctx)
    assert [e[0] for e in events(pool_ctx)] == ["snapshot.deleted", "filesystem.deleted"]
    assert not path.exists()
    with pytest.raises(BuiltinError) as exc:
        volume_path(pool_ctx.config, "storagepool://p1/data")
    assert exc.value.code == 404


def test_in_use_is_refused(loops: Callable[[], str], pool_root: Path, pool_ctx: Context,
                           tmp_path: Path) -> None:
    """A bind mount of a filesystem in another mount namespace (as a container has) blocks
    deleting the filesystem and the pool."""
    call("storagepool.create", {"name": "p1", "devices": [loops()]}, pool_ctx)
    fs = call("storagepool.filesystem_create", {"pool": "p1", "name": "vol"}, pool_ctx)
    events(pool_ctx)
    target = tmp_path / "container-root"
    target.mkdir()
    holder = subprocess.Popen(["unshare", "-m", "--propagation", "private", "sh", "-c",
                               f"mount --bind {fs['path']} {target} && echo ok && exec sleep 60"],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ok"
        for command, args in [("storagepool.filesystem_delete", {"pool": "p1", "name": "vol"}),
                              ("storagepool.delete", {"name": "p1"})]:
            with pytest.raises(BuiltinError) as exc:
                call(command, args, pool_ctx)
            assert exc.value.code == 412 and str(target) in exc.value.message
        assert Path(fs["path"]).is_dir() and os.path.ismount(pool_root / "p1") and events(pool_ctx) == []
    finally:
        holder.kill()
        holder.wait()
    call("storagepool.filesystem_delete", {"pool": "p1", "name": "vol"}, pool_ctx)


def test_exchange_swaps_atomically(tmp_path: Path) -> None:
    (tmp_path / "a").write_text("a")
    (tmp_path / "b").mkdir()
    exchange(tmp_path / "a", tmp_path / "b")
    assert (tmp_path / "b").read_text() == "a" and (tmp_path / "a").is_dir()
    with pytest.raises(OSError):
        exchange(tmp_path / "a", tmp_path / "missing")


def _in_own_mount_namespace(volume: Path, target: Path, script: str) -> str:
    """Run `script` in a fresh mount namespace with `volume` bind-mounted at `target`, as a
    container's runtime mounts a pool filesystem; the namespace ends with the process."""
    done = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c",
                           f"mount --bind {volume} {target} && {script}"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_volume_outlives_its_container(loops: Callable[[], str], pool_root: Path, pool_ctx: Context,
                                       tmp_path: Path) -> None:
    """A pool filesystem written through one 'container' mount is read by the next one after
    the first is gone (stand-in for corex.create/terminate: the same bind mount runc makes)."""
    call("storagepool.create", {"name": "p1", "devices": [loops()]}, pool_ctx)
    call("storagepool.filesystem_create", {"pool": "p1", "name": "vol", "quota": 16 * MiB}, pool_ctx)
    volume = volume_path(pool_ctx.config, "storagepool://p1/vol")
    target = tmp_path / "rootfs-data"
    target.mkdir()
    _in_own_mount_namespace(volume, target, f"echo kept > {target}/state")
    assert not os.path.ismount(target) and (volume / "state").read_text() == "kept\n"
    assert _in_own_mount_namespace(volume, target, f"cat {target}/state") == "kept\n"
    # A VM medium is a raw file in the filesystem.
    disk = volume_path(pool_ctx.config, "storagepool://p1/vol/vm.raw")
    with open(disk, "wb") as f:
        f.truncate(4 * MiB)
    assert disk.stat().st_size == 4 * MiB
