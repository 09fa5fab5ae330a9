"""The hub's operations as blocking functions over the repositories and the chunk store; the
HTTP layer runs them in worker threads and turns their HubErrors into status codes."""

from __future__ import annotations

import concurrent.futures
import json
import logging
import os
import time
from pathlib import Path
from typing import Any, BinaryIO
from collections.abc import Callable

from zos.fs import (ChunkStore, FlistBuilder, FlistError, FlistFormatError, StoreError, UnsafeEntryError,
                    add_tar, file_digest, merge, open_flist, open_store)

from ._config import HubConfig
from ._errors import BadRequestError, HubError, MissingChunksError, NotFoundError
from ._jobs import Jobs
from ._pipe import PipeAborted
from ._repo import Repositories, check_name, flist_name, sanitize

log = logging.getLogger("zos.hub")
PROTECTED = ("readme", "backend", "entrypoint", "environ", "port", "volume")


class Hub:
    def __init__(self, config: HubConfig) -> None:
        self.config = config
        self.repos = Repositories(config.public_dir, config.work_dir)
        self.cache = config.work_dir / "cache"
        self.store: ChunkStore = open_store(config.store_url)
        self.jobs = Jobs()
        self.converters = concurrent.futures.ThreadPoolExecutor(4, thread_name_prefix="hub-convert")

    def close(self) -> None:
        self.converters.shutdown(wait=False, cancel_futures=True)
        self.store.close()

    def self_check(self) -> None:
        """Build an empty flist and round-trip a probe chunk (spec §11.1: MUST at start-up)."""
        temp = self.repos.temp_file(".flist")
        try:
            FlistBuilder(self.store).write(temp)
            with open_flist(temp, self.cache) as fl:
                fl.root()
        finally:
            temp.unlink(missing_ok=True)
        from zos.fs import encode_chunk, fetch_chunk
        chunk_id, key, cipher = encode_chunk(b"zos hub self-check")
        self.store.put_missing([(chunk_id, cipher)])
        fetch_chunk([self.store], chunk_id, key)

    # -- reading ----------------------------------------------------------------------------
    def contents(self, user: str, name: str) -> dict[str, Any]:
        path = self.repos.resolve(user, name)
        counts = {"regular": 0, "symlink": 0, "directory": 0, "special": 0, "failure": 0}
        content = []
        size = 0
        with self._open(path) as fl:
            for entry in fl.walk():
                kind = {"file": "regular", "symlink": "symlink", "dir": "directory"}.get(entry.kind, "special")
                counts[kind] += 1
                content.append({"path": "/" + os.fsdecode(entry.path), "size": entry.size})
                size += entry.size if entry.kind == "file" else 0
        return {"content": content, **counts, "fullsize": size}

    def metadata(self, user: str, name: str) -> dict[str, Any]:
        with self._open(self.repos.resolve(user, name)) as fl:
            return fl.metadata

    def _open(self, path: Path) -> Any:
        try:
            return open_flist(path, self.cache)
        except FlistFormatError as exc:
            raise HubError(f"stored flist is unreadable: {exc}", 500) from None

    # -- uploads ----------------------------------------------------------------------------
    def upload_name(self, filename: str, original: str | None) -> str:
        if not filename.endswith(".tar.gz"):
            raise BadRequestError(f"file '{filename}' must end with .tar.gz")
        base = original.replace("\\", "/").rpartition("/")[2] if original else filename
        if base.endswith(".tar.gz"):
            base = base[: -len(".tar.gz")]
        return sanitize(base) + ".flist"

    def build_from_tar(self, user: str, name: str, stream: BinaryIO,
                       wait_fields: Callable[[], dict[str, str]], job: str | None) -> dict[str, Any]:
        """Steps 2-9 of spec §11.6, in a worker thread. Nothing appears in the repository
        unless everything succeeds."""
        started = time.monotonic()
        last = [0.0]

        def progress(stats: Any) -> None:
            now = time.monotonic()
            if job and now - last[0] > 0.2:
                last[0] = now
                self.jobs.post(job, {"status": "progress", "message": "processing",
                                     "current": stats.regular, "total": getattr(stream, "received", 0)})

        builder = FlistBuilder(self.store, progress=progress)
        try:
            add_tar(builder, stream)
        except PipeAborted as exc:
            raise BadRequestError(str(exc)) from None
        except (FlistFormatError, UnsafeEntryError) as exc:
            raise BadRequestError(f"bad archive: {exc}") from None
        except StoreError as exc:
            raise HubError(f"chunk store failed: {exc}", 503) from None
        fields = wait_fields()
        for readme in (".README.md", ".README"):
            text = builder.read_small_file(readme)
            if text is not None:
                builder.set_metadata("readme", {"readme": text.decode("utf-8", "replace")})
                break
        for field, value in fields.items():
            if not field.startswith("metadata-"):
                continue
            key = field[len("metadata-"):]
            if key in PROTECTED or not key:
                continue
            try:
                builder.set_metadata(key, json.loads(value))
            except ValueError:
                builder.set_metadata(key, value)
        builder.set_metadata("backend", self.config.backend())
        temp = self.repos.temp_file(".flist")
        try:
            builder.write(temp)
            md5 = file_digest(temp, "md5")
            size = temp.stat().st_size
            self.repos.install(temp, user, name)
        except BaseException:
            temp.unlink(missing_ok=True)
            raise
        stats = builder.stats.as_dict()
        self.jobs.post(job, {"status": "success", "message": "flist created", "name": name,
                             "user": user, "files": stats})
        log.info("%s/%s built from tar in %.1f s: %s", user, name, time.monotonic() - started, stats)
        return {"name": name, "files": stats, "size": size, "md5": md5}

    def accept_flist(self, user: str, name: str, temp: Path) -> dict[str, Any]:
        """Spec §11.7 upload-flist: every chunk must exist in the store; original bytes kept."""
        try:
            try:
                fl = open_flist(temp, self.cache)
            except (FlistFormatError, FileNotFoundError) as exc:
                raise BadRequestError(f"not a readable flist: {exc}") from None
            with fl:
                if fl.format != "hub":
                    raise BadRequestError(f"only hub-format (.flist archive) uploads are accepted, got {fl.format}")
                try:
                    ids = sorted(fl.chunk_ids())
                except FlistError as exc:
                    raise BadRequestError(f"corrupt flist: {exc}") from None
            missing = 0
            for start in range(0, len(ids), 5000):
                batch = ids[start:start + 5000]
                try:
                    missing += sum(1 for there in self.store.exists_many(batch) if not there)
                except StoreError as exc:
                    raise HubError(f"chunk store failed: {exc}", 503) from None
            if missing:
                raise MissingChunksError(f"{missing} of {len(ids)} chunks referenced by the flist are not in the store")
            md5 = file_digest(temp, "md5")
            size = temp.stat().st_size
            self.repos.install(temp, user, name)
            return {"name": name, "size": size, "md5": md5, "chunks": len(ids)}
        finally:
            temp.unlink(missing_ok=True)

    def merge(self, user: str, target: str, sources: list[Any]) -> dict[str, Any]:
        if not isinstance(sources, list) or len(sources) < 2 or not all(isinstance(s, str) for s in sources):
            raise BadRequestError("merge needs a JSON array of at least two 'repo/name' strings")
        if "/" in target:
            raise BadRequestError(f"merge target '{target}' must not contain '/'")
        name = check_name(flist_name(target), "flist")
        paths = []
        for source in sources:
            repo, sep, file = source.partition("/")
            if not sep or "/" in file:
                raise BadRequestError(f"merge source '{source}' is not 'repo/name'")
            paths.append(self.repos.resolve(repo, flist_name(file)))
        flists = [self._open(path) for path in paths]
        temp = self.repos.temp_file(".flist")
        try:
            result = merge(flists[0], flists[1:], temp)
            md5 = file_digest(temp, "md5")
            size = temp.stat().st_size
            self.repos.install(temp, user, name)
        except BaseException:
            temp.unlink(missing_ok=True)
            raise
        finally:
            for fl in flists:
                fl.close()
        return {"name": name, "size": size, "md5": md5, "collisions": result.collisions,
                "warnings": result.warnings}

    def promote(self, user: str, repo: str, source: str, localname: str) -> dict[str, Any]:
        path = self.repos.promote(user, repo, source, check_name(localname))
        return {"size": path.stat().st_size, "md5": file_digest(path, "md5")}

    # -- chunks -----------------------------------------------------------------------------
    def chunk_get(self, chunk_id: bytes) -> bytes:
        try:
            data = self.store.get(chunk_id)
        except StoreError as exc:
            raise HubError(f"chunk store unreachable: {exc}", 503) from None
        if data is None:
            raise NotFoundError(f"chunk {chunk_id.hex()} not found")
        return data

    def chunk_put(self, chunk_id: bytes, data: bytes) -> bool:
        from zos.fs.store import b2_128
        if b2_128(data) != chunk_id:
            raise BadRequestError(f"body hash {b2_128(data).hex()} differs from chunk id {chunk_id.hex()}")
        try:
            if self.store.exists(chunk_id):
                return False
            self.store.set(chunk_id, data)
        except StoreError as exc:
            raise HubError(f"chunk store unreachable: {exc}", 503) from None
        return True

    def chunks_missing(self, ids: list[bytes]) -> list[str]:
        try:
            present = self.store.exists_many(ids)
        except StoreError as exc:
            raise HubError(f"chunk store unreachable: {exc}", 503) from None
        return [chunk_id.hex() for chunk_id, there in zip(ids, present, strict=True) if not there]

