"""The pure parts of kvm: media URLs -> qemu block nodes, the qemu command line, nics and port
arguments, iotune names, the vms projection's folds (no qemu, no bus)."""

from __future__ import annotations

import json

import pytest

from zos.events import new_event
from zos.node.builtins import BuiltinError
from zos.node.builtins import _kvm_media as media
from zos.node.builtins import _kvm_net as net
from zos.node.builtins import _kvm_qemu as qemu
from zos.projections._rows import MemoryRows
from zos.projections.projectors.vms import Vms

UUID = "0b6e8d4c-1d5e-4a43-9a55-2f6d1f1a0c11"


@pytest.mark.parametrize(("url", "server", "export"), [
    ("nbd+unix:///vd1?socket=/run/nbd.sock", {"type": "unix", "path": "/run/nbd.sock"}, "vd1"),
    ("nbd://10.0.0.1/vd2", {"type": "inet", "host": "10.0.0.1", "port": "10809"}, "vd2"),
    ("nbd+tcp://h:1234/vd3", {"type": "inet", "host": "h", "port": "1234"}, "vd3"),
])
def test_nbd_urls(url, server, export):
    medium = media.parse_medium({"url": url}, "media[0]")
    spec = media.blockdev(medium, "drive0", None)
    assert spec["file"] == {"driver": "nbd", "server": server, "export": export, "node-name": "drive0-nbd"}
    assert media.device(medium, "drive0", "disk0", boot=True) == {
        "driver": "virtio-blk-pci", "drive": "drive0", "id": "disk0", "bootindex": 1}


def test_files_and_cdroms():
    disk = media.parse_medium({"url": "file:///var/a.qcow2"}, "m")
    assert media.blockdev(disk, "drive1", "qcow2")["file"]["filename"] == "/var/a.qcow2"
    cdrom = media.parse_medium({"url": "/iso/x.iso", "type": "cdrom"}, "m")
    assert media.device(cdrom, "drive2", "disk2", boot=False)["driver"] == "ide-cd"
    assert media.blockdev(cdrom, "drive2", "raw")["read-only"] is True


@pytest.mark.parametrize(("raw", "message"), [
    ({"url": "nbd:///x"}, "names no host"), ({"url": "nbd+unix:///x"}, "needs ?socket="),
    ({"url": "nbd+unix://?socket=/s"}, "names no export"), ({"url": "ftp://x/y"}, "not an nbd URL"),
    ({"url": "x.img"}, "absolute path"), ({"url": "/x", "type": "floppy"}, "disk or cdrom"), ({}, "url"),
])
def test_bad_media(raw, message):
    with pytest.raises(BuiltinError) as raised:
        media.parse_medium(raw, "media[0]")
    assert raised.value.code == 400 and message in raised.value.message


def test_iotune_from_upstream_fields():
    tune = media.iotune_args({"totalbytessecset": True, "totalbytessec": 5, "readiopssec": 7,
                              "readiopssecset": False, "iops_wr": 3})
    assert (tune["bps"], tune["iops_rd"], tune["iops_wr"], tune["bps_max_length"]) == (5, 0, 3, 1)
    with pytest.raises(BuiltinError):
        media.iotune_args({"bps": -1})


def test_qemu_argv(tmp_path):
    argv = qemu.qemu_argv(uuid=UUID, name="a,b", cpu=2, memory=256, accel="tcg", directory=tmp_path,
                          blockdevs=[{"driver": "raw", "node-name": "drive0"}],
                          devices=[{"driver": "virtio-blk-pci", "drive": "drive0", "id": "disk0"}],
                          kernel="/k", initrd="/i", cmdline="console=ttyS0", incoming="tcp:127.0.0.1:5")
    joined = " ".join(argv)
    assert argv[argv.index("-name") + 1] == "a,,b" and argv[argv.index("-uuid") + 1] == UUID
    assert "-daemonize" in argv and "-nodefaults" in argv and "-accel tcg" in joined
    assert "unix:qmp.sock,server=on,wait=off" in argv and "unix:events.sock,server=on,wait=off" in argv
    assert json.loads(argv[argv.index("-blockdev") + 1]) == {"driver": "raw", "node-name": "drive0"}
    assert argv[-2:] == ["-incoming", "tcp:127.0.0.1:5"] and "-cpu" not in argv


def test_accel_choice_respects_the_argument():
    assert qemu.choose_accel("tcg") == "tcg" and qemu.choose_accel("kvm") == "kvm"
    with pytest.raises(BuiltinError):
        qemu.choose_accel("xen")


def test_nics_and_ports():
    default = net.parse_nic({"type": "default"}, "nics[0]", UUID, 0, 0x0102)
    assert (default.hwaddr, net.seq_address(0x0102)[1]) == ("00:28:06:82:01:02", "172.19.1.2")
    assert len(default.tap) <= 15 and default.tap == "zv0b6e8d4c0"
    bridged = net.parse_nic({"type": "bridge", "id": "br0"}, "nics[1]", UUID, 1, 0)
    assert bridged.hwaddr.startswith("52:54:00:") and bridged.hwaddr != default.hwaddr
    assert net.next_seq({2, 3}) == 4
    for raw, code in (({"type": "x"}, 400), ({"type": "bridge"}, 400), ({"type": "vlan", "id": "5"}, 501),
                      ({"type": "bridge", "id": "kvm0"}, 400), ({"type": "default", "hwaddr": "zz"}, 400)):
        with pytest.raises(BuiltinError) as raised:
            net.parse_nic(raw, "nics[0]", UUID, 0, 2)
        assert raised.value.code == code
    assert net.ports_arg({"2222": 22}) == {2222: 22}
    with pytest.raises(BuiltinError):
        net.ports_arg({"0": 22})


def _event(type_, **data):
    return new_event(type_, "vm", UUID, {"uuid": UUID, **data}, actor="node:a")


def test_projection_folds_a_vm_through_its_life():
    rows, vms = MemoryRows(), Vms()
    media_a = {"url": "nbd://h/a", "type": "disk", "bus": "virtio"}
    story = [
        _event("vm.created", name="web", node="a", cpu=1, memory=64, media=[media_a], nics=[]),
        _event("vm.state_changed", state="paused", node="a"),
        _event("vm.disk_attached", node="a", media={"url": "nbd://h/b"}, device="disk1"),
        _event("vm.disk_detached", node="a", media={"url": "nbd://h/b"}, device="disk1"),
        _event("vm.state_changed", state="running", node="b"),   # the target resumed first
        _event("vm.migrated", source="a", target="b", node="b"),
        _event("vm.destroyed", node="a"),                         # the source's end: not the VM's
    ]
    for seq, event in enumerate(story, 1):
        vms.apply(rows, event, seq)
    row = rows.get("vms", UUID)
    assert (row["node"], row["status"], row["media"]) == ("b", "running", [media_a])
    vms.apply(rows, _event("vm.state_changed", state="shutoff", node="b"), 8)
    assert rows.get("vms", UUID)["status"] == "halted"
    vms.apply(rows, _event("vm.destroyed", node="b"), 9)
    assert rows.get("vms", UUID) is None
