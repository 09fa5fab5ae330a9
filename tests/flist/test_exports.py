"""The public surfaces of zos.fs, zos.fs.flist, zos.fs.store and zos.hub list exactly their names."""

from __future__ import annotations

import types

import pytest

import zos.fs
import zos.fs.flist
import zos.fs.store
import zos.hub


@pytest.mark.parametrize("module", [zos.fs, zos.fs.flist, zos.fs.store, zos.hub])
def test_all_lists_every_public_name(module: types.ModuleType) -> None:
    public = {name for name, value in vars(module).items()
              if not name.startswith("_") and not isinstance(value, types.ModuleType)}
    assert set(module.__all__) == public
    assert len(module.__all__) == len(set(module.__all__))


def test_fs_reexports_the_reader_api() -> None:
    for name in ("open_flist", "Entry", "Block", "fetch_chunk", "open_store", "default_store_path", "file_digest",
                 "ChunkStore", "ChunkMissingError", "EntryNotFoundError"):
        assert name in zos.fs.__all__
