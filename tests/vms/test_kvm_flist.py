"""A VM booted from an flist: mounted through zos.fs, `config` written into it, kernel and
initrd from boot/boot.yaml, the root shared with the guest over virtio-9p."""

from __future__ import annotations

import os
import shutil

import pytest

from zos.fs import DirStore, create_flist

from .conftest import kvm, serial, wait_serial

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root")


def make_flist(tmp_path, guest, boot_yaml: str | None) -> tuple[str, str]:
    tree = tmp_path / "tree"
    (tree / "boot").mkdir(parents=True)
    (tree / "etc").mkdir()
    shutil.copy(guest["kernel"], tree / "boot" / "vmlinuz")
    shutil.copy(guest["initrd"], tree / "boot" / "initrd.gz")
    if boot_yaml is not None:
        (tree / "boot" / "boot.yaml").write_text(boot_yaml)
    store_dir = tmp_path / "chunks"
    store_dir.mkdir()
    out = tmp_path / "guest.flist"
    create_flist(tree, out, DirStore(store_dir))
    return str(out), f"file://{store_dir}"


async def test_boot_from_flist_with_config(agent, bus, guest, tmp_path):
    flist, store = make_flist(tmp_path, guest, "kernel: boot/vmlinuz\ninitrd: boot/initrd.gz\n"
                                               "cmdline: console=ttyS0 quiet panic=-1 zos.test=idle\n")
    uuid = await kvm(bus, agent.node_id, "kvm.create", {
        "cpu": 1, "memory": 128, "flist": flist, "storage": [store], "accel": "tcg",
        "config": {"/etc/zos-config": "hello-from-config"}})
    console = serial(agent, uuid)
    await wait_serial(console, "CONFIG hello-from-config")
    root = agent.data_dir / "vms" / uuid / "root"
    assert os.path.ismount(root)
    await kvm(bus, agent.node_id, "kvm.destroy", {"uuid": uuid})
    assert not os.path.ismount(root) and not root.exists()


async def test_flist_without_boot_yaml_is_refused(agent, bus, guest, tmp_path):
    flist, store = make_flist(tmp_path, guest, None)
    result = await kvm(bus, agent.node_id, "kvm.create", {"cpu": 1, "memory": 64, "flist": flist,
                                                          "storage": [store], "accel": "tcg"}, ok=False)
    assert (result.state, result.code) == ("ERROR", 400) and "failed to open boot/boot.yaml" in result.data
    assert list((agent.data_dir / "vms").iterdir()) == []
