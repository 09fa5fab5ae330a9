"""Copies of opened archives: one per archive content, bounded, never removed while in use,
and none left behind without a work directory."""

from __future__ import annotations

import concurrent.futures
import gc
import os
from pathlib import Path

import pytest

from zos.fs import FlistBuilder, file_digest, open_flist


def _archive(folder: Path, number: int) -> Path:
    """A small `.flist` archive; `number` makes its bytes (so its copy) distinct."""
    builder = FlistBuilder(None)
    builder.add_symlink(f"link{number}", "target")
    builder.set_metadata("number", number)
    return builder.write(folder / f"a{number}.flist")


def _copies(workdir: Path) -> set[str]:
    """The copies in `workdir` (dot-entries are staging and trash, not copies)."""
    return {name for name in os.listdir(workdir) if not name.startswith(".")}


def test_same_archive_opened_many_times_is_copied_once(tmp_path: Path) -> None:
    archive = _archive(tmp_path, 1)
    workdir = tmp_path / "flists"
    for _ in range(20):
        with open_flist(archive, workdir) as fl:
            assert fl.lookup("link1").target == b"target"
    open_at_once = [open_flist(archive, workdir) for _ in range(5)]
    try:
        assert {fl.db.path for fl in open_at_once} == {workdir / file_digest(archive) / "flistdb.sqlite3"}
    finally:
        for fl in open_at_once:
            fl.close()
    assert _copies(workdir) == {file_digest(archive)}


def test_concurrent_opens_share_one_copy(tmp_path: Path) -> None:
    archive = _archive(tmp_path, 1)
    workdir = tmp_path / "flists"

    def read() -> bytes:
        with open_flist(archive, workdir) as fl:
            return fl.lookup("link1").target

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        assert set(pool.map(lambda _: read(), range(32))) == {b"target"}
    assert _copies(workdir) == {file_digest(archive)}


def test_least_recently_opened_copies_go_first(tmp_path: Path) -> None:
    archives = [_archive(tmp_path, n) for n in range(6)]
    workdir = tmp_path / "flists"
    for archive in archives:
        open_flist(archive, workdir, max_copies=3).close()
    assert _copies(workdir) == {file_digest(a) for a in archives[3:]}
    # Opening a kept copy makes it the most recent; the next new copy evicts the oldest other.
    open_flist(archives[3], workdir, max_copies=3).close()
    open_flist(archives[0], workdir, max_copies=3).close()
    assert _copies(workdir) == {file_digest(a) for a in (archives[3], archives[5], archives[0])}


def test_copies_are_bounded_in_bytes(tmp_path: Path) -> None:
    archives = [_archive(tmp_path, n) for n in range(4)]
    workdir = tmp_path / "flists"
    for archive in archives:
        open_flist(archive, workdir, max_copy_bytes=1).close()
    assert _copies(workdir) == {file_digest(archives[-1])}  # the newest always stays


def test_a_copy_in_use_is_not_removed(tmp_path: Path) -> None:
    archives = [_archive(tmp_path, n) for n in range(4)]
    workdir = tmp_path / "flists"
    held = open_flist(archives[0], workdir, max_copies=1)
    try:
        for archive in archives[1:]:
            open_flist(archive, workdir, max_copies=1).close()
        assert file_digest(archives[0]) in _copies(workdir)
        # SQLite connects once per reader thread: a new thread must still find the copy.
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            assert pool.submit(held.lookup, "link0").result().target == b"target"
    finally:
        held.close()
    open_flist(archives[1], workdir, max_copies=1).close()
    assert _copies(workdir) == {file_digest(archives[1])}


def test_without_workdir_the_copy_is_private_and_removed_on_close(tmp_path: Path) -> None:
    archive = _archive(tmp_path, 1)
    first, second = open_flist(archive), open_flist(archive)
    assert first.db.path != second.db.path
    for fl in (first, second):
        copy = fl.db.path.parent
        assert copy.is_dir()
        fl.close()
        assert not copy.exists()


def test_a_private_copy_of_an_flist_never_closed_goes_with_it(tmp_path: Path) -> None:
    fl = open_flist(_archive(tmp_path, 1))
    copy = fl.db.path.parent
    assert copy.is_dir()
    del fl
    gc.collect()
    assert not copy.exists()


def test_a_failed_open_leaves_no_copy(tmp_path: Path) -> None:
    bad = tmp_path / "bad.flist"
    bad.write_bytes(b"not an archive at all" * 10)
    workdir = tmp_path / "flists"
    with pytest.raises(ValueError, match="unknown flist format"):
        open_flist(bad, workdir)
    assert os.listdir(workdir) == []
