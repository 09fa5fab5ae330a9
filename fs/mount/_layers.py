"""Opening the flists of a mount and the stores each one reads from.

Layering (`--layer`): the `--meta` flist is the top layer, then each `--layer` in the order
given. The first layer that has a name wins; directories present in several layers are merged.
(This is the `zos flist merge` rule; upstream 0-fs runtime layering used last-on-top.)
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import httpx

from zos.fs import (ChunkStore, Flist, StoreError, backend_url, default_store, default_workdir, open_flist,
                    open_store)


class MountConfigError(Exception):
    """A mount cannot start: bad flist, URL, store or directory (the message says which)."""


def fetch_flist(source: str, data_dir: Path) -> Path:
    """A local path for `source`: the path itself, or an http(s) URL downloaded once into
    `DATA/fs/flists/<sha256 of url>.flist` (written to a temp file, then renamed)."""
    if not source.startswith(("http://", "https://")):
        path = Path(source)
        if not path.exists():
            raise MountConfigError(f"flist '{source}' does not exist")
        return path
    folder = data_dir / "fs" / "flists"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / (hashlib.sha256(source.encode()).hexdigest() + ".flist")
    if path.exists():
        return path
    temp = path.with_suffix(f".{os.getpid()}.tmp")
    try:
        with httpx.stream("GET", source, follow_redirects=True, timeout=60.0) as response:
            if response.status_code != 200:
                raise MountConfigError(f"GET {source} answered {response.status_code}")
            with open(temp, "wb") as handle:
                for part in response.iter_bytes():
                    handle.write(part)
        os.replace(temp, path)
    except httpx.HTTPError as exc:
        raise MountConfigError(f"cannot download flist {source}: {exc}") from exc
    finally:
        temp.unlink(missing_ok=True)
    return path


def open_layers(sources: list[str], data_dir: Path, dir_cache: int = 1024) -> list[Flist]:
    layers = []
    try:
        for source in sources:
            path = fetch_flist(source, data_dir)
            try:
                layers.append(open_flist(path, default_workdir(data_dir), dir_cache=dir_cache))
            except Exception as exc:
                raise MountConfigError(f"cannot open flist '{source}': {exc}") from exc
    except BaseException:
        for fl in layers:
            fl.close()
        raise
    return layers


def layer_stores(fl: Flist, storage: list[str], data_dir: Path, use_backend: bool = True) -> list[ChunkStore]:
    """Local default store, the flist's `metadata.backend`, then the `--storage` fallbacks."""
    stores: list[ChunkStore] = [default_store(data_dir)]
    backend = fl.metadata.get("backend")
    if use_backend and isinstance(backend, dict) and (backend.get("host") or backend.get("socket")
                                                      or backend.get("url")):
        try:
            stores.append(open_store(backend_url(backend)))
        except StoreError as exc:
            raise MountConfigError(f"flist {fl.source}: metadata backend {backend!r} unusable: {exc}") from exc
    for url in storage:
        try:
            stores.append(open_store(url))
        except StoreError as exc:
            raise MountConfigError(f"--storage {url}: {exc}") from exc
    return stores
