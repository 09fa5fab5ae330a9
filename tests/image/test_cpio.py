"""The newc writer and reader, checked against GNU cpio (the peer that must read our bytes)."""

from __future__ import annotations

import io
import shutil
import stat
import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zos.image import (CpioEntry, CpioFormatError, compress, decompress, extract_cpio, read_cpio,
                       write_cpio)

ENTRIES = [
    CpioEntry(".", stat.S_IFDIR | 0o755),
    CpioEntry("bin", stat.S_IFDIR | 0o755),
    CpioEntry("bin/busybox", stat.S_IFREG | 0o755, b"\x7fELF" + b"x" * 61),
    CpioEntry("bin/sh", stat.S_IFLNK | 0o777, b"busybox"),
    CpioEntry("dev", stat.S_IFDIR | 0o755),
    CpioEntry("dev/console", stat.S_IFCHR | 0o600, rdevmajor=5, rdevminor=1),
    CpioEntry("init", stat.S_IFREG | 0o755, b"#!/bin/sh\necho hi\n"),
]


def archive(entries: list[CpioEntry]) -> bytes:
    out = io.BytesIO()
    write_cpio(out, entries)
    return out.getvalue()


def test_roundtrip_numbers_inodes_in_order() -> None:
    back = list(read_cpio(archive(ENTRIES)))
    assert [(e.name, e.mode, e.data, e.rdevmajor, e.rdevminor) for e in back] == \
        [(e.name, e.mode, e.data, e.rdevmajor, e.rdevminor) for e in ENTRIES]
    assert [e.ino for e in back] == list(range(1, len(ENTRIES) + 1))
    assert [e.nlink for e in back] == [2 if e.is_dir else 1 for e in ENTRIES]


def test_header_layout_is_newc() -> None:
    data = archive([CpioEntry("a", stat.S_IFREG | 0o644, b"xyz", mtime=7)])
    assert data[:6] == b"070701"
    assert len(data) % 4 == 0
    # ino 1, mode, uid 0, gid 0, nlink 1, mtime 7, size 3, ..., namesize 2 ("a\0"), check 0
    assert data[6:14] == b"00000001" and data[46:54] == b"00000007" and data[54:62] == b"00000003"
    assert data[94:102] == b"00000002" and data[102:110] == b"00000000"
    assert data.endswith(b"TRAILER!!!\0" + b"\0" * (-(110 + 11) % 4))


@pytest.mark.skipif(not shutil.which("cpio"), reason="GNU cpio is not installed (Debian package cpio)")
def test_gnu_cpio_reads_and_extracts_our_archive(tmp_path: Path) -> None:
    data = archive([e for e in ENTRIES if e.name != "dev/console"])   # mknod needs root: leave it out
    listing = subprocess.run(["cpio", "-t", "--quiet"], input=data, capture_output=True, check=True).stdout
    assert listing.decode().split() == [".", "bin", "bin/busybox", "bin/sh", "dev", "init"]
    subprocess.run(["cpio", "-i", "-d", "--quiet", "--no-absolute-filenames"], input=data, cwd=tmp_path,
                   check=True)
    assert (tmp_path / "init").read_bytes() == b"#!/bin/sh\necho hi\n"
    assert (tmp_path / "bin" / "sh").is_symlink() and (tmp_path / "bin" / "sh").readlink() == Path("busybox")
    assert (tmp_path / "bin" / "busybox").stat().st_mode & 0o777 == 0o755


@pytest.mark.skipif(not shutil.which("cpio"), reason="GNU cpio is not installed (Debian package cpio)")
def test_we_read_what_gnu_cpio_writes(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "f").write_bytes(b"12345")
    produced = subprocess.run(["cpio", "-o", "-H", "newc", "--quiet"], input=b"d\nd/f\n", cwd=tmp_path,
                              capture_output=True, check=True).stdout
    back = {e.name: e for e in read_cpio(produced)}
    assert back["d/f"].data == b"12345" and stat.S_ISDIR(back["d"].mode)


@pytest.mark.parametrize("method", ["gzip", "xz", "none"])
def test_compression_is_deterministic_and_reversible(method: str) -> None:
    data = archive(ENTRIES) * 50
    assert compress(data, method) == compress(data, method)
    assert decompress(compress(data, method)) == data


def test_gzip_header_has_no_name_and_no_mtime() -> None:
    packed = compress(b"hello", "gzip")
    assert packed[3] == 0, "FLG: no FNAME, no FEXTRA"
    assert packed[4:8] == b"\0\0\0\0", "MTIME 0"


def test_cut_archive_is_an_error() -> None:
    data = archive(ENTRIES)
    with pytest.raises(CpioFormatError, match="cut short"):
        list(read_cpio(data[: len(data) // 2]))


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=600))
def test_reader_fuzz_raises_only_its_error(data: bytes) -> None:
    try:
        list(read_cpio(data))
    except CpioFormatError:
        pass


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.text(st.characters(codec="utf-8", exclude_characters="\0/"), min_size=1,
                                  max_size=20), st.binary(max_size=40)), max_size=10, unique_by=lambda t: t[0]))
def test_roundtrip_fuzz(items: list[tuple[str, bytes]]) -> None:
    entries = [CpioEntry(name, stat.S_IFREG | 0o644, data) for name, data in items if name != "TRAILER!!!"]
    back = list(read_cpio(archive(entries)))
    assert [(e.name, e.data) for e in back] == [(e.name, e.data) for e in entries]


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=0), st.binary(max_size=8))
def test_corrupted_archive_fuzz(position: int, insert: bytes) -> None:
    data = bytearray(archive(ENTRIES))
    at = position % len(data)
    data[at:at + len(insert)] = insert
    try:
        list(read_cpio(bytes(data)))
    except CpioFormatError:
        pass


def test_extract_writes_files_links_and_modes_but_not_devices(tmp_path: Path) -> None:
    assert extract_cpio(archive(ENTRIES), tmp_path) == len(ENTRIES) - 1
    assert (tmp_path / "init").read_bytes() == b"#!/bin/sh\necho hi\n"
    assert (tmp_path / "bin" / "sh").readlink() == Path("busybox")
    assert not (tmp_path / "dev" / "console").exists()


def test_extract_refuses_names_outside_the_folder(tmp_path: Path) -> None:
    with pytest.raises(CpioFormatError, match="outside"):
        extract_cpio(archive([CpioEntry("../escape", stat.S_IFREG | 0o644, b"x")]), tmp_path / "in")
    assert not (tmp_path / "escape").exists()
