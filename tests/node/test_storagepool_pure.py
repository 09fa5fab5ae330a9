"""The storage code that needs no disk: btrfs output parsers, the sysfs reader, pool ids and
volume paths, the start-up fold, and the projection's folds (on MemoryRows)."""

from __future__ import annotations

from pathlib import Path

import pytest

from zos.events import new_event
from zos.node.builtins import BuiltinError
from zos.node.builtins._btrfs_parse import (BtrfsOutputError, parse_limit, parse_qgroups, parse_show,
                                            parse_subvol_list, read_allocation)
from zos.node.builtins._storagepool_adopt import fold_pools
from zos.node.builtins._storagepool_layout import check_name, pool_id, snapshot_id, volume_path
from zos.projections._rows import MemoryRows
from zos.projections.projectors.storagepools import StoragePools

SHOW = """Label: 'sp_p1'  uuid: 565220e2-d017-431d-a56a-cfabfe26149f
\tTotal devices 2 FS bytes used 147456
\tdevid    1 size 268435456 used 50331648 path /dev/loop0
\tdevid    2 size 268435456 used 41943040 path /dev/loop1

Label: none  uuid: 11111111-2222-3333-4444-555555555555
\tTotal devices 2 FS bytes used 0
\tdevid    1 size 268435456 used 0 path /dev/loop5
\tdevid    2 size 0 used 0 path <missing disk> MISSING
\t*** Some devices missing
"""


def test_parse_show() -> None:
    first, second = parse_show(SHOW)
    assert first == {"label": "sp_p1", "uuid": "565220e2-d017-431d-a56a-cfabfe26149f", "total_devices": 2,
                     "used": 147456, "devices": [
                         {"dev_id": 1, "size": 268435456, "used": 50331648, "path": "/dev/loop0"},
                         {"dev_id": 2, "size": 268435456, "used": 41943040, "path": "/dev/loop1"}]}
    assert second["label"] == "none" and second["missing"] is True
    assert second["devices"][1] == {"dev_id": 2, "size": 0, "used": 0, "path": "", "missing": True}
    assert parse_show("") == []
    with pytest.raises(BtrfsOutputError):
        parse_show("Label: 'x'  uuid: 565220e2-d017-431d-a56a-cfabfe26149f\n\tsomething new\n")


def test_parse_subvol_list_and_qgroups() -> None:
    assert parse_subvol_list("ID 256 gen 7 top level 5 path filesystems/my data\n") == [
        {"ID": 256, "Gen": 7, "TopLevel": 5, "Path": "filesystems/my data"}]
    with pytest.raises(BtrfsOutputError):
        parse_subvol_list("ID x\n")
    text = ("Qgroupid    Referenced    Exclusive  Max referenced  Max exclusive   Path \n"
            "--------    ----------    ---------  --------------  -------------   ---- \n"
            "0/5              16384        16384            none           none   <toplevel>\n"
            "0/256            16384        16384        10485760           none   fs1\n")
    assert parse_qgroups(text) == {
        "0/5": {"referenced": 16384, "exclusive": 16384, "max_referenced": None, "max_exclusive": None},
        "0/256": {"referenced": 16384, "exclusive": 16384, "max_referenced": 10485760, "max_exclusive": None}}
    with pytest.raises(BtrfsOutputError):
        parse_qgroups("0/5 16k 16k none none\n")


def test_parse_limit() -> None:
    assert parse_limit("4096") == 4096 and parse_limit("10M") == 10 << 20 and parse_limit("1g") == 1 << 30
    assert parse_limit("none") is None
    for bad in ("", "-1", "10MB", "lots"):
        with pytest.raises(ValueError):
            parse_limit(bad)


def test_read_allocation(tmp_path: Path) -> None:
    alloc = tmp_path / "allocation"
    for kind, profile, total, used in [("data", "single", 8388608, 0), ("system", "raid1", 8388608, 16384),
                                       ("metadata", "raid1", 33554432, 131072)]:
        (alloc / kind / profile).mkdir(parents=True)
        (alloc / kind / "total_bytes").write_text(f"{total}\n")
        (alloc / kind / "bytes_used").write_text(f"{used}\n")
    (alloc / "global_rsv_size").write_text("5767168\n")
    (alloc / "global_rsv_reserved").write_text("0\n")
    assert read_allocation(tmp_path) == {
        "data": {"profile": "single", "total": 8388608, "used": 0},
        "system": {"profile": "RAID1", "total": 8388608, "used": 16384},
        "metadata": {"profile": "RAID1", "total": 33554432, "used": 131072},
        "globalreserve": {"profile": "single", "total": 5767168, "used": 0}}


def test_names_ids_and_volumes(tmp_path: Path) -> None:
    assert pool_id("n1", "p1") == "n1-p1"
    assert snapshot_id("n1", "p1", "fs", "s.1").startswith("h_")  # a '.' is not a subject token
    for bad in ("", "A", "a/b", "..", "-x", "x" * 51):
        with pytest.raises(BuiltinError):
            check_name("pool", bad)
    with pytest.raises(BuiltinError) as exc:  # the pool is not mounted
        volume_path(tmp_path, "storagepool://p1/data")
    assert exc.value.code == 404
    for bad in ("storagepool://p1/../etc", "storagepool://p1/data/../../x", "/etc/passwd",
                f"{tmp_path}/p1/snapshots/x"):
        with pytest.raises(BuiltinError) as exc:
            volume_path(tmp_path, bad)
        assert exc.value.code == 400, bad


def _created(node: str, name: str, uuid: str, devices: list[str]) -> object:
    return new_event("storagepool.created", "storagepool", f"{node}-{name}", {
        "node": node, "name": name, "uuid": uuid, "label": f"sp_{name}",
        "devices": [{"device": d, "uuid": ""} for d in devices], "metadata_profile": "raid1",
        "data_profile": "single", "mountpoint": f"/mnt/storagepools/{name}", "size": 1 << 30})


def test_fold_pools_keeps_only_this_nodes_live_pools() -> None:
    events = [_created("n1", "a", "u1", ["/dev/a"]), _created("n2", "b", "u2", ["/dev/b"]),
              _created("n1", "c", "u3", ["/dev/c"]),
              new_event("storagepool.device_added", "storagepool", "n1-a",
                        {"node": "n1", "name": "a", "devices": [{"device": "/dev/d", "uuid": ""}]}),
              new_event("storagepool.deleted", "storagepool", "n1-c", {"node": "n1", "name": "c"})]
    assert fold_pools(events, "n1") == {"a": {"uuid": "u1", "devices": ["/dev/a", "/dev/d"]}}


def test_projection_cascades() -> None:
    projector, rows = StoragePools(), MemoryRows()

    def apply(event: object, seq: int) -> None:
        projector.apply(rows, event, seq)

    apply(_created("n1", "p", "u", ["/dev/a"]), 1)
    fs = {"node": "n1", "pool": "p", "name": "f"}
    apply(new_event("filesystem.created", "filesystem", "n1-p-f", {**fs, "path": "/x", "quota": 5}), 2)
    snap = {"node": "n1", "pool": "p", "filesystem": "f", "name": "s"}
    apply(new_event("snapshot.created", "snapshot", "n1-p-f-s", {**snap, "path": "/y", "timestamp": 9,
                                                                 "used": 7}), 3)
    apply(new_event("storagepool.missing", "storagepool", "n1-p",
                    {"node": "n1", "name": "p", "uuid": "u", "reason": "gone"}), 4)
    assert rows.get("storagepools", "n1", "p")["status"] == "error"
    assert rows.get("pool_filesystems", "n1", "p", "f")["snapshots"] == ["s"]
    apply(new_event("storagepool.deleted", "storagepool", "n1-p", {"node": "n1", "name": "p"}), 5)
    assert rows.tables["storagepools"] == rows.tables["pool_filesystems"] == rows.tables["pool_snapshots"] == {}


def test_pool_root_from_flag_env_or_default() -> None:
    import argparse

    from zos.commands.node import agent_config
    from zos.settings import Settings

    def root(flag: str | None, env: dict[str, str]) -> Path:
        args = argparse.Namespace(storagepool_root=flag, config=None)
        return agent_config(Settings(args, "node", environ={**env, "ZOS_CMDLINE": ""}), "n1").storagepool_root

    assert root(None, {}) == Path("/mnt/storagepools")
    assert root(None, {"ZOS_STORAGEPOOL_ROOT": "/srv/pools"}) == Path("/srv/pools")
    assert root("/tmp/p", {"ZOS_STORAGEPOOL_ROOT": "/srv/pools"}) == Path("/tmp/p")
