"""btrfs.* builtins (spec containers-vms §3) on loop devices over sparse files."""

from __future__ import annotations

import os
from pathlib import Path
from collections.abc import Callable

import pytest

from tests.node import _btrfs_fixtures as bfx
from tests.node._sys_fixtures import call, sh
from zos.node.builtins import BuiltinError

loops = bfx.loops


def _mount(device: str, where: Path) -> str:
    where.mkdir(parents=True, exist_ok=True)
    sh("mount", "-t", "btrfs", device, str(where))
    return str(where)


def test_create_list_info_devices(loops: Callable[[], str], tmp_path: Path) -> None:
    a, b, c = loops(), loops(), loops()
    assert call("btrfs.create", {"label": "t1", "metadata": "raid1", "data": "single",
                                 "devices": [a, b]}) is None
    mp = _mount(a, tmp_path / "mnt")
    [fs] = [fs for fs in call("btrfs.list", {}) if fs["label"] == "t1"]
    assert fs["total_devices"] == 2 and {d["path"] for d in fs["devices"]} == {a, b}
    assert all(d["size"] == bfx.LOOP_SIZE for d in fs["devices"])
    info = call("btrfs.info", {"mountpoint": mp})
    assert info["uuid"] == fs["uuid"] and info["label"] == "t1"
    assert info["metadata"]["profile"] == "RAID1" and info["data"]["profile"] == "single"
    assert info["system"]["total"] > 0 and set(info["globalreserve"]) == {"profile", "total", "used"}

    call("btrfs.device_add", {"mountpoint": mp, "devices": [c]})
    [fs] = [fs for fs in call("btrfs.list", {}) if fs["label"] == "t1"]
    assert {d["path"] for d in fs["devices"]} == {a, b, c}
    call("btrfs.device_remove", {"mountpoint": mp, "devices": [c]})
    [fs] = [fs for fs in call("btrfs.list", {}) if fs["label"] == "t1"]
    assert {d["path"] for d in fs["devices"]} == {a, b}


def test_bad_create_arguments(loops: Callable[[], str], tmp_path: Path) -> None:
    a = loops()
    for args, code, text in [
        ({"devices": []}, 400, "need to specify devices to create btrfs"),
        ({"devices": [a], "metadata": "raid7"}, 400, "invalid metadata profile:raid7"),
        ({"devices": [a], "data": "mirror"}, 400, "invalid data profile:mirror"),
        ({"devices": ["/dev/zos-no-such-disk"]}, 404, "does not exist"),
        ({"devices": ["/etc/hostname"]}, 400, "not a block device"),
    ]:
        with pytest.raises(BuiltinError) as exc:
            call("btrfs.create", args)
        assert (exc.value.code, text in exc.value.message) == (code, True), exc.value.message
    call("btrfs.create", {"devices": [a]})
    with pytest.raises(BuiltinError) as exc:  # a filesystem is there: only with overwrite
        call("btrfs.create", {"devices": [a]})
    assert exc.value.code == 412 and "overwrite" in exc.value.message
    call("btrfs.create", {"devices": [a], "overwrite": True, "label": "again"})
    _mount(a, tmp_path / "busy")
    with pytest.raises(BuiltinError) as exc:  # mounted: never formatted, overwrite or not
        call("btrfs.create", {"devices": [a], "overwrite": True})
    assert exc.value.code == 412 and "in use" in exc.value.message


def test_subvolumes_quota_snapshot(loops: Callable[[], str], tmp_path: Path) -> None:
    a = loops()
    call("btrfs.create", {"devices": [a]})
    mp = _mount(a, tmp_path / "mnt")
    call("btrfs.subvol_create", {"path": f"{mp}/vol"})
    call("btrfs.subvol_create", {"path": f"{mp}/vol/inner"})
    listed = call("btrfs.subvol_list", {"path": mp})
    assert [sv["Path"] for sv in listed] == ["vol"] and set(listed[0]) == {"ID", "Gen", "TopLevel", "Path"}
    assert [sv["Path"] for sv in call("btrfs.subvol_list", {"path": f"{mp}/vol"})] == ["inner"]

    call("btrfs.subvol_quota", {"path": f"{mp}/vol", "limit": "8M"})
    with pytest.raises(OSError):  # 16 MiB into an 8 MiB quota
        with open(f"{mp}/vol/big", "wb") as f:
            for _ in range(16):
                f.write(os.urandom(1 << 20))
                f.flush()
                os.fsync(f.fileno())

    Path(f"{mp}/vol/inner/file").write_text("one")
    call("btrfs.subvol_snapshot", {"source": f"{mp}/vol/inner", "destination": f"{mp}/snap",
                                   "read_only": True})
    assert Path(f"{mp}/snap/file").read_text() == "one"
    with pytest.raises(OSError):
        Path(f"{mp}/snap/file").write_text("two")
    call("btrfs.subvol_snapshot", {"source": f"{mp}/snap", "destination": f"{mp}/rw"})
    Path(f"{mp}/rw/file").write_text("two")

    for args, code in [({"path": "relative"}, 400), ({"path": f"{mp}/nothere/x"}, 404)]:
        with pytest.raises(BuiltinError) as exc:
            call("btrfs.subvol_create", args)
        assert exc.value.code == code
    with pytest.raises(BuiltinError) as exc:
        call("btrfs.subvol_quota", {"path": f"{mp}/vol", "limit": "lots"})
    assert exc.value.code == 400
    with pytest.raises(BuiltinError) as exc:
        call("btrfs.subvol_snapshot", {"source": f"{mp}/missing", "destination": f"{mp}/x"})
    assert exc.value.code == 404

    call("btrfs.subvol_delete", {"path": f"{mp}/rw"})
    assert not os.path.exists(f"{mp}/rw")
    with pytest.raises(BuiltinError) as exc:
        call("btrfs.subvol_delete", {"path": f"{mp}/vol/big"})
    assert exc.value.code in (400, 404)
