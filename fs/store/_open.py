"""Store URLs (spec §9.2) -> store objects, and where the local default store lives."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from ._base import ChunkStore
from ._dir import DirStore
from ._http import HttpStore
from ._errors import StoreURLError
from ._redis import RedisStore


def default_store_path(data_dir: str | os.PathLike[str]) -> Path:
    """`<zos data dir>/chunks`: where `zos flist create` puts chunks without `--store`, and
    where every reader also looks."""
    return Path(data_dir) / "chunks"


def default_store(data_dir: str | os.PathLike[str]) -> DirStore:
    return DirStore(default_store_path(data_dir))


def open_store(url: str, token: str | None = None) -> ChunkStore:
    """`zdb://[:pw@]host:port[/ns]`, `redis://`, `ardb://`, `unix://path?namespace=ns`,
    `http(s)://host[:port][/prefix]`, `file:///dir` or a plain directory path. An http(s)
    store authenticates (writes) with `token`, or the URL's `?token=`."""
    if "://" not in url:
        return DirStore(url)
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    if scheme == "file":
        return DirStore(unquote(parts.path))
    if scheme in ("http", "https"):
        token = token or query.get("token")
        base = f"{scheme}://{parts.netloc.rpartition('@')[2]}{parts.path}"
        return HttpStore(base, token)
    if scheme in ("redis", "ardb", "zdb", "unix"):

        # ardb:// URLs historically carried the password in the user-name slot.
        password = parts.password or parts.username or query.get("password") or None
        password = unquote(password) if password else None
        namespace = query.get("namespace")
        if scheme != "unix":
            path_ns = parts.path.strip("/")
            namespace = namespace or path_ns or ("default" if scheme == "zdb" else None)
            if not parts.hostname:
                raise StoreURLError(f"store URL '{url}' has no host")
            try:
                port = parts.port or (9900 if scheme == "zdb" else 6379)
            except ValueError:
                raise StoreURLError(f"store URL '{url}' has an invalid port") from None
            return RedisStore(url, host=parts.hostname, port=port, password=password,
                              namespace=namespace, zdb=scheme == "zdb" or query.get("kind") == "zdb",
                              hash_mode=query.get("mode") == "hash")
        return RedisStore(url, unix_socket=unquote(parts.path), password=password, namespace=namespace,
                          zdb=query.get("kind", "zdb") == "zdb", hash_mode=query.get("mode") == "hash")
    raise StoreURLError(f"store URL '{url}' has unknown scheme '{scheme}' "
                        "(known: zdb, redis, ardb, unix, http, https, file)")

def backend_url(backend: dict[str, Any]) -> str:
    """`metadata.backend` (spec §7) -> a store URL (`zdb://host:port/namespace`)."""
    url = backend.get("url")
    if isinstance(url, str) and url.startswith(("http://", "https://")):
        return url  # a hub's chunk API (project extension, set by zos.hub without a public 0-db)
    password = backend.get("password") or backend.get("token")
    auth = f":{password}@" if password else ""
    namespace = backend.get("namespace") or "default"
    if backend.get("socket"):
        return f"unix://{backend['socket']}?namespace={namespace}" + (f"&password={password}" if password else "")
    host = backend.get("host")
    if not host:
        raise StoreURLError(f"metadata backend {backend!r} has no host")
    return f"zdb://{auth}{host}:{int(backend.get('port') or 9900)}/{namespace}"
