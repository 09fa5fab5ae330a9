"""Whole-flist tools: create from a source, convert between formats, check chunks, copy chunks."""

from __future__ import annotations

import json
import os
import tarfile
from pathlib import Path
from typing import Any
from collections.abc import Callable, Sequence

from zos.fs.store import ChunkStore, decode_chunk
from zos.fs.store import ChunkError, StoreError

from ._db import EntriesWriter
from ._errors import FlistError
from ._output import write_flist
from ._reader import Flist
from ._tar import add_tar
from ._tree import add_tree
from ._writer import BuildStats, FlistBuilder


def create_flist(source: str | os.PathLike[str], out: str | os.PathLike[str], store: ChunkStore,
                 format: str = "hub", metadata: dict[str, Any] | None = None,
                 progress: Callable[[BuildStats], None] | None = None) -> BuildStats:
    """Directory tree or tar archive (any compression) -> flist at `out`, chunks into `store`."""
    source = Path(source)
    builder = FlistBuilder(store, progress=progress)
    if source.is_dir():
        add_tree(builder, source)
    elif source.is_file() and tarfile.is_tarfile(source):
        with open(source, "rb") as handle:
            add_tar(builder, handle)
    elif source.is_file():
        with open(source, "rb") as handle:  # gzip'ed tars are not recognised by is_tarfile
            add_tar(builder, handle)
    else:
        raise FileNotFoundError(f"source '{source}' is neither a directory nor a tar archive")
    for key, value in (metadata or {}).items():
        builder.set_metadata(key, value)
    builder.write(out, format)
    return builder.stats


def convert(flist: Flist, out: str | os.PathLike[str], format: str,
            metadata: dict[str, Any] | None = None, drop_metadata: Sequence[str] = ()) -> Path:
    """Row-for-row copy (spec §3.3): `hub` = archive, `native` = RocksDB directory.

    `metadata` sets keys (values JSON-encoded), `drop_metadata` removes keys; every other
    metadata row is copied unchanged (unknown keys preserved)."""
    def fill(sink: EntriesWriter) -> None:
        for key, value in flist.db.items():
            sink.put(key, value)
        rows = flist.db.metadata_raw()
        rows.update({key: json.dumps(value) for key, value in (metadata or {}).items()})
        for key, text in rows.items():
            if key not in drop_metadata:
                sink.put_metadata(key, text)

    return write_flist(out, format, fill)


def check(flist: Flist, stores: Sequence[ChunkStore], verify: bool = True) -> dict[str, list[bytes]]:
    """Every chunk present (and, with `verify`, decoding to its key) in some store.

    Returns {"missing": [...], "corrupt": [...]} of chunk ids; both empty means complete.
    """
    missing: list[bytes] = []
    corrupt: list[bytes] = []
    keys = {}
    for entry in flist.walk():
        for block in entry.blocks:
            keys.setdefault(block.id, block.key)
    ids = list(keys)
    if not verify:
        present = [False] * len(ids)
        for store in stores:
            try:
                answers = store.exists_many(ids)
            except StoreError:
                continue
            present = [a or b for a, b in zip(present, answers, strict=True)]
        return {"missing": [i for i, there in zip(ids, present, strict=True) if not there], "corrupt": []}
    for chunk_id in ids:
        good = bad = False
        for store in stores:
            try:
                cipher = store.get(chunk_id)
            except StoreError:
                continue
            if cipher is None:
                continue
            try:
                decode_chunk(cipher, chunk_id, keys[chunk_id])
                good = True
                break
            except ChunkError:
                bad = True
        if not good:
            (corrupt if bad else missing).append(chunk_id)
    return {"missing": missing, "corrupt": corrupt}


def copy_chunks(flist: Flist, source: Sequence[ChunkStore], dest: ChunkStore) -> int:
    """Copy every chunk of `flist` missing in `dest` from `source` (ciphertext, verified)."""
    keys = {}
    for entry in flist.walk():
        for block in entry.blocks:
            keys.setdefault(block.id, block.key)
    ids = list(keys)
    present = dest.exists_many(ids)
    copied = 0
    for chunk_id, there in zip(ids, present, strict=True):
        if there:
            continue
        for store in source:
            cipher = store.get(chunk_id)
            if cipher is None:
                continue
            decode_chunk(cipher, chunk_id, keys[chunk_id])
            dest.set(chunk_id, cipher)
            copied += 1
            break
        else:
            raise FlistError(f"chunk {chunk_id.hex()} is in none of the source stores")
    return copied
