"""disk.* builtins (spec core0-protocol §12.5) on a loop device over a sparse file the test
creates; the machine's own disks are only read (disk.list)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.node import _sys_fixtures as fx
from tests.node._sys_fixtures import call, need_tool, sh
from zos.node._process import ProcessSpec
from zos.node.builtins import BuiltinError
from zos.node.builtins._disk_parted import PartedOutputError, parse_print, split_fields
from zos.node.builtins.disk import parse_blkid_export, read_mounts

# The fixtures this module uses (defined once in _sys_fixtures).
loop_device = fx.loop_device

MiB = 1024 * 1024


def run(spec: ProcessSpec) -> subprocess.CompletedProcess:
    """Run the process a builtin describes, as the agent's process manager would."""
    assert isinstance(spec, ProcessSpec)
    done = subprocess.run(spec.argv, cwd=spec.cwd, capture_output=True, text=True, timeout=60)
    if spec.on_exit is not None:
        spec.on_exit(done.returncode)
    return done


def partition(device: str, number: int) -> str:
    return f"{device}p{number}"


def test_table_and_partitions(loop_device: str) -> None:
    info = call("disk.getinfo", {"disk": loop_device})
    assert info["name"] == loop_device and info["size"] == 64 * MiB
    assert (info["start"], info["end"], info["blocksize"], info["table"], info["free"]) == (0, 64 * MiB - 1, 512, "", [])

    spec = call("disk.mktable", {"disk": loop_device, "table_type": "gpt"})
    assert spec.argv[1:] == ["-s", f"/dev/{loop_device}", "mktable", "gpt"]
    assert run(spec).returncode == 0
    assert run(call("disk.mkpart", {"disk": loop_device, "part_type": "primary",
                                    "start": "1MiB", "end": "20MiB"})).returncode == 0
    assert run(call("disk.mkpart", {"disk": f"/dev/{loop_device}", "part_type": "data",
                                    "start": "20MiB", "end": 40})).returncode == 0

    info = call("disk.getinfo", {"disk": loop_device})
    assert info["table"] == "gpt"
    children = {child["name"]: child for child in info["children"]}
    assert set(children) == {partition(loop_device, 1), partition(loop_device, 2)}
    first = children[partition(loop_device, 1)]
    assert (first["start"], first["end"], first["size"]) == (1 * MiB, 20 * MiB - 1, 19 * MiB)
    assert first["type"] == "part" and first["pkname"] == loop_device
    # Free space: the GPT header area before 1 MiB and everything after the second partition.
    assert [f["start"] for f in info["free"]][0] < MiB
    tail = info["free"][-1]
    assert tail["start"] == children[partition(loop_device, 2)]["end"] + 1 and tail["size"] > 20 * MiB

    part = call("disk.getinfo", {"disk": loop_device, "part": partition(loop_device, 2)})
    assert part["name"] == partition(loop_device, 2) and part["start"] == 20 * MiB
    assert part["partlabel"] == "data"

    listed = {d["name"]: d for d in call("disk.list", {})}
    assert listed[loop_device]["table"] == "gpt"
    assert [c["name"] for c in listed[loop_device]["children"]] == [partition(loop_device, 1), partition(loop_device, 2)]

    number = call("disk.rmpart", {"disk": loop_device, "number": 2})
    assert run(number).returncode == 0
    info = call("disk.getinfo", {"disk": loop_device})
    assert [c["name"] for c in info["children"]] == [partition(loop_device, 1)]
    with pytest.raises(BuiltinError) as exc:
        call("disk.rmpart", {"disk": loop_device, "number": 2})
    assert exc.value.code == 404 and "number 2" in exc.value.message


def test_parted_failure_is_a_process_error(loop_device: str) -> None:
    """Overlapping partitions: parted itself refuses; the process result carries its message."""
    run(call("disk.mktable", {"disk": loop_device, "table_type": "msdos"}))
    run(call("disk.mkpart", {"disk": loop_device, "part_type": "primary", "start": "1MiB", "end": "30MiB"}))
    done = run(call("disk.mkpart", {"disk": loop_device, "part_type": "primary", "start": "10MiB", "end": "40MiB"}))
    assert done.returncode == 1 and "You requested a partition from" in done.stderr


def test_mount_mounts_umount(loop_device: str, tmp_path: Path) -> None:
    need_tool("mkfs.ext4", "e2fsprogs")
    run(call("disk.mktable", {"disk": loop_device, "table_type": "gpt"}))
    run(call("disk.mkpart", {"disk": loop_device, "part_type": "p1", "start": "1MiB", "end": "100%"}))
    device = f"/dev/{partition(loop_device, 1)}"
    sh("mkfs.ext4", "-q", "-F", "-L", "zosdata", device)
    # Filesystem fields come from the device itself (blkid) when lsblk has no udev to ask.
    part = call("disk.getinfo", {"disk": loop_device, "part": partition(loop_device, 1)})
    assert (part["fstype"], part["label"], part["partlabel"]) == ("ext4", "zosdata", "p1")
    assert part["uuid"] == sh("blkid", "-p", "-s", "UUID", "-o", "value", device).stdout.strip()
    target = tmp_path / "mnt" / "deep"
    spec = call("disk.mount", {"source": device, "target": str(target), "options": "ro,noatime"})
    assert target.is_dir()  # created for the mount
    done = run(spec)
    assert done.returncode == 0, done.stderr
    mounted = call("disk.mounts", {})[device]
    assert {"mountpoint": str(target), "filesystem": "ext4"}.items() <= mounted[0].items()
    assert mounted[0]["options"].startswith("ro,")

    with pytest.raises(BuiltinError) as exc:  # never change the table of a disk in use
        call("disk.mktable", {"disk": loop_device, "table_type": "msdos"})
    assert exc.value.code == 412 and str(target) in exc.value.message

    assert run(call("disk.umount", {"source": str(target)})).returncode == 0
    assert device not in call("disk.mounts", {})
    with pytest.raises(BuiltinError) as exc:
        call("disk.umount", {"source": str(target)})
    assert exc.value.code == 404


@pytest.mark.parametrize("name, args, code, field", [
    ("disk.getinfo", {}, 400, "disk"),
    ("disk.getinfo", {"disk": 3}, 400, "disk"),
    ("disk.getinfo", {"disk": "../../etc/passwd"}, 400, "disk"),
    ("disk.getinfo", {"disk": "zosnosuchdisk"}, 404, "zosnosuchdisk"),
    ("disk.mktable", {"disk": "zosnosuchdisk", "table_type": "gpt"}, 404, "zosnosuchdisk"),
    ("disk.mkpart", {"disk": "zosnosuchdisk", "start": "1MiB", "end": "2MiB"}, 404, "zosnosuchdisk"),
    ("disk.rmpart", {"disk": "zosnosuchdisk", "number": 1}, 404, "zosnosuchdisk"),
    ("disk.mount", {"source": "/dev/zosnosuch", "target": "/tmp/zos-x"}, 404, "/dev/zosnosuch"),
    ("disk.mount", {"source": "--bind", "target": "/tmp/zos-x"}, 400, "source"),
    ("disk.mount", {"source": "tmpfs", "target": "relative/dir"}, 400, "target"),
    ("disk.mount", {"source": "tmpfs", "target": "/tmp/zos-x", "options": "ro; reboot"}, 400, "options"),
    ("disk.umount", {"source": "/zos/not/mounted"}, 404, "/zos/not/mounted"),
    ("disk.umount", {"source": ["/"]}, 400, "source"),
])
def test_bad_arguments(name: str, args: dict, code: int, field: str) -> None:
    with pytest.raises(BuiltinError) as exc:
        call(name, args)
    assert exc.value.code == code and field in exc.value.message


@pytest.mark.parametrize("args, field", [
    ({"table_type": "gpt2"}, "table_type"),
    ({"table_type": None}, "table_type"),
])
def test_bad_table_arguments(loop_device: str, args: dict, field: str) -> None:
    with pytest.raises(BuiltinError) as exc:
        call("disk.mktable", {"disk": loop_device, **args})
    assert exc.value.code == 400 and field in exc.value.message


@pytest.mark.parametrize("args, field", [
    ({"start": "1MiB; rm -rf /", "end": "2MiB"}, "start"),
    ({"start": "1MiB", "end": [2]}, "end"),
    ({"start": "1MiB", "end": "2MiB", "part_type": "has space"}, "part_type"),
    ({"start": True, "end": "2MiB"}, "start"),
])
def test_bad_partition_arguments(loop_device: str, args: dict, field: str) -> None:
    with pytest.raises(BuiltinError) as exc:
        call("disk.mkpart", {"disk": loop_device, **args})
    assert exc.value.code == 400 and field in exc.value.message


# --- parsers -------------------------------------------------------------------------------

SAMPLE = """BYT;
/dev/loop0:67108864B:loopback:512:512:gpt:Loopback device:;
1:17408B:1048575B:1031168B:free;
1:1048576B:20971519B:19922944B:ext4:primary:;
2:20971520B:41943039B:20971520B::da\\:ta:boot, esp;
1:41943040B:67091967B:25148928B:free;
"""


def test_parse_parted_print() -> None:
    info = parse_print(SAMPLE)
    assert (info["size"], info["blocksize"], info["table"]) == (64 * MiB, 512, "gpt")
    assert info["free"] == [{"start": 17408, "end": 1048575, "size": 1031168},
                            {"start": 41943040, "end": 67091967, "size": 25148928}]
    assert info["partitions"][1] == {"number": 2, "start": 20 * MiB, "end": 40 * MiB - 1, "size": 20 * MiB,
                                     "filesystem": "", "name": "da:ta", "flags": "boot, esp"}


@given(st.text(max_size=300))
def test_fuzz_parse_parted_never_crashes(text: str) -> None:
    try:
        parse_print(text)
    except PartedOutputError:
        pass


NAMES = st.text(st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp")), max_size=12)


@given(st.lists(st.tuples(st.integers(0, 2**40), st.integers(0, 2**40), NAMES), max_size=5))
def test_fuzz_parse_parted_roundtrip(parts: list) -> None:
    def esc(text: str) -> str:
        return text.replace("\\", "\\\\").replace(":", "\\:")
    lines = ["BYT;", "/dev/x:1000B:file:4096:4096:msdos:M\\:odel:;"]
    for number, (start, size, name) in enumerate(parts, 1):
        lines.append(f"{number}:{start}B:{start + size}B:{size}B::{esc(name)}:;")
    info = parse_print("\n".join(lines))
    assert [(p["start"], p["size"], p["name"]) for p in info["partitions"]] == parts


def test_split_fields_escapes() -> None:
    assert split_fields("a\\:b:c\\\\:d") == ["a:b", "c\\", "d"]


def test_parse_blkid_export() -> None:
    text = "DEVNAME=/dev/loop0p1\nLABEL=my\\ disk\nTYPE=ext4\nnonsense\n"
    assert parse_blkid_export(text) == {"DEVNAME": "/dev/loop0p1", "LABEL": "my disk", "TYPE": "ext4"}


def test_read_mounts_unescapes() -> None:
    text = "/dev/sda1 /mnt/with\\040space ext4 rw,relatime 0 0\ntmpfs /run tmpfs rw 0 0\nbad\n"
    assert read_mounts(text) == {
        "/dev/sda1": [{"mountpoint": "/mnt/with space", "filesystem": "ext4", "options": "rw,relatime"}],
        "tmpfs": [{"mountpoint": "/run", "filesystem": "tmpfs", "options": "rw"}]}
