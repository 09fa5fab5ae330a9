"""Bad input: clear errors, nothing partial, nothing written outside the workspace."""

from __future__ import annotations

import gzip
import io
import random
import sqlite3
import tarfile
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

from zos.fs import (ChunkMissingError, DirStore, FlistBuilder, FlistFormatError, UnsafeEntryError, add_tar,
                    create_flist, encode_chunk, fetch_chunk, open_flist)
from zos.fs.flist import decode_dir


def _tar(members: list[tuple[tarfile.TarInfo, bytes | None]], mode: str = "w:gz") -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode=mode, format=tarfile.PAX_FORMAT) as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()


def _file(name: str, data: bytes = b"x") -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    return info, data


def _build(tmp_path: Path, archive: bytes, store: DirStore) -> Path:
    builder = FlistBuilder(store)
    add_tar(builder, io.BytesIO(archive))
    return builder.write(tmp_path / "out.flist")


@pytest.mark.parametrize("name", ["../evil", "a/../../evil", "a/b/../../../x"])
def test_dotdot_members_are_refused(tmp_path: Path, store: DirStore, name: str) -> None:
    with pytest.raises(UnsafeEntryError, match=r"'\.\.'"):
        _build(tmp_path, _tar([_file("ok"), _file(name)]), store)
    assert not (tmp_path / "out.flist").exists()
    assert not (tmp_path.parent / "evil").exists()


def test_absolute_paths_are_made_relative(tmp_path: Path, store: DirStore) -> None:
    out = _build(tmp_path, _tar([_file("/etc/shadow", b"s")]), store)
    with open_flist(out) as fl:
        assert fl.read("etc/shadow", 0, 5, [store]) == b"s"
    assert not Path("/etc/shadow").read_bytes() == b"s"


def test_hardlink_escape_is_refused(tmp_path: Path, store: DirStore) -> None:
    link = tarfile.TarInfo("h")
    link.type, link.linkname = tarfile.LNKTYPE, "../../etc/passwd"
    with pytest.raises(UnsafeEntryError):
        _build(tmp_path, _tar([(link, None)]), store)


def test_symlinks_are_stored_not_followed(tmp_path: Path, store: DirStore) -> None:
    link = tarfile.TarInfo("escape")
    link.type, link.linkname = tarfile.SYMTYPE, "../../../../etc"
    out = _build(tmp_path, _tar([(link, None), _file("escape/passwd", b"p")]), store)
    with open_flist(out) as fl:
        # a later member under the link path makes it a directory inside the flist, never on disk
        assert fl.lookup("escape/passwd").kind == "file"
    assert Path("/etc/passwd").read_bytes() != b"p"


def test_huge_pax_header_is_refused(tmp_path: Path, store: DirStore) -> None:
    info, data = _file("big-header")
    info.pax_headers = {"comment": "x" * (2 << 20)}
    with pytest.raises(UnsafeEntryError, match="extended header"):
        _build(tmp_path, _tar([(info, data)]), store)


def test_over_long_path_is_refused(tmp_path: Path, store: DirStore) -> None:
    with pytest.raises(UnsafeEntryError, match="longer than 4095"):
        _build(tmp_path, _tar([_file("a/" * 2100 + "f")]), store)


def test_truncated_gzip(tmp_path: Path, store: DirStore) -> None:
    rng = random.Random(85)
    archive = _tar([_file(f"f{i}", rng.randbytes(5000)) for i in range(20)])
    with pytest.raises(FlistFormatError, match="corrupt or truncated"):
        _build(tmp_path, archive[: len(archive) // 2], store)
    assert not (tmp_path / "out.flist").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_garbage_is_not_a_tar(tmp_path: Path, store: DirStore) -> None:
    with pytest.raises(FlistFormatError):
        _build(tmp_path, gzip.compress(b"\x01" * 1000), store)


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=3000))
def test_fuzz_tar_input(tmp_path_factory: pytest.TempPathFactory, data: bytes) -> None:
    tmp = tmp_path_factory.mktemp("fuzz")
    builder = FlistBuilder(DirStore(tmp / "chunks"))
    try:
        add_tar(builder, io.BytesIO(data))
    except (FlistFormatError, UnsafeEntryError):
        pass


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=400))
def test_fuzz_dir_decoder(data: bytes) -> None:
    try:
        decode_dir(data)
    except FlistFormatError:
        pass


def test_corrupt_flist_files(tmp_path: Path) -> None:
    (tmp_path / "junk.flist").write_bytes(b"not an flist at all" * 10)
    with pytest.raises(FlistFormatError, match="unknown flist format"):
        open_flist(tmp_path / "junk.flist")
    (tmp_path / "empty.tar.gz").write_bytes(_tar([_file("README", b"hi")]))
    with pytest.raises(FlistFormatError, match="no flistdb.sqlite3"):
        open_flist(tmp_path / "empty.tar.gz")
    db = tmp_path / "bad.sqlite3"
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE other (x)")
    conn.commit()
    conn.close()
    with pytest.raises(FlistFormatError, match="no 'entries' table"):
        open_flist(db)


def test_sqlite_without_metadata_and_with_blob_keys_and_index(tmp_path: Path, store: DirStore) -> None:
    """Pre-2019 files (no metadata table), BLOB-typed keys and the documented extra index."""
    builder = FlistBuilder(store)
    builder.add_file("a/b", b"content")
    builder.write(tmp_path / "x.flist")
    with open_flist(tmp_path / "x.flist") as fl:
        rows = list(fl.db.items())
    db = tmp_path / "old.sqlite3"
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE entries (key VARCHAR(64) PRIMARY KEY, value BLOB)")
    conn.execute("CREATE INDEX entries_index ON entries (key)")
    conn.executemany("INSERT INTO entries VALUES (?, ?)", [(k.encode(), v) for k, v in rows])
    conn.commit()
    conn.close()
    with open_flist(db) as fl:
        assert fl.metadata == {}
        assert fl.read("a/b", 0, 100, [store]) == b"content"


def test_unknown_archive_members_are_ignored(tmp_path: Path, store: DirStore) -> None:
    builder = FlistBuilder(store)
    builder.add_file("f", b"1")
    builder.write(tmp_path / "x.flist")
    with tarfile.open(tmp_path / "x.flist") as tar:
        db = tar.extractfile("./flistdb.sqlite3").read()
    wrapped = tmp_path / "wrapped.flist"
    wrapped.write_bytes(_tar([_file("../../escape/junk", b"j"), _file("some/prefix/flistdb.sqlite3", db)]))
    with open_flist(wrapped) as fl:
        assert fl.read("f", 0, 1, [store]) == b"1"
    assert not (tmp_path.parent / "escape").exists()


def test_missing_and_corrupt_chunks(tmp_path: Path, store: DirStore) -> None:
    chunk_id, key, cipher = encode_chunk(b"payload")
    other = DirStore(tmp_path / "other")
    with pytest.raises(ChunkMissingError, match="absent"):
        fetch_chunk([store, other], chunk_id, key)
    store.set(chunk_id, cipher[:-4] + b"\0\0\0\0")  # corrupt in the first store ...
    other.set(chunk_id, cipher)                       # ... good in the second
    assert fetch_chunk([store, other], chunk_id, key) == b"payload"
    with pytest.raises(ChunkMissingError, match="ciphertext hash differs"):
        fetch_chunk([store], chunk_id, key)


def test_failed_build_leaves_nothing(tmp_path: Path, store: DirStore) -> None:
    archive = tmp_path / "in" / "broken.tar.gz"
    archive.parent.mkdir()
    rng = random.Random(181)
    full = _tar([_file(f"f{i}", rng.randbytes(20000)) for i in range(10)])
    archive.write_bytes(full[: len(full) * 2 // 3])
    out = tmp_path / "o" / "t.flist"
    out.parent.mkdir()
    with pytest.raises(FlistFormatError):
        create_flist(archive, out, store)
    assert list(out.parent.iterdir()) == []
