"""Chunks over the hub's HTTP chunk API (spec §11.5): GET/HEAD/PUT /api/chunks/<hex id>,
POST /api/chunks/missing for batch existence."""

from __future__ import annotations

import time
from collections.abc import Sequence

import httpx

from ._base import ChunkStore
from ._errors import StoreError, StoreUnavailableError

_BATCH = 10000
_ATTEMPTS = 3


class HttpStore(ChunkStore):
    def __init__(self, url: str, token: str | None = None, timeout: float = 30.0) -> None:
        self.url = url.rstrip("/")
        headers = {"Authorization": f"bearer {token}"} if token else {}
        self.client = httpx.Client(base_url=self.url, headers=headers,
                                   timeout=httpx.Timeout(timeout, connect=5.0))

    def _request(self, method: str, path: str, **kwargs: object) -> httpx.Response:
        delay = 0.1
        for attempt in range(_ATTEMPTS):
            try:
                response = self.client.request(method, path, **kwargs)  # type: ignore[arg-type]
            except httpx.TransportError as exc:
                if attempt == _ATTEMPTS - 1:
                    raise StoreUnavailableError(f"{method} {self.url}{path} failed: {exc}") from exc
            else:
                if response.status_code < 500:
                    return response
                if attempt == _ATTEMPTS - 1:
                    raise StoreUnavailableError(
                        f"{method} {self.url}{path} answered {response.status_code}: {response.text[:200]}")
            time.sleep(delay)
            delay *= 4
        raise AssertionError("unreachable")

    def get(self, chunk_id: bytes) -> bytes | None:
        response = self._request("GET", f"/api/chunks/{chunk_id.hex()}")
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise StoreError(f"GET chunk {chunk_id.hex()} from {self.url}: {response.status_code} "
                             f"{response.text[:200]}")
        return response.content

    def set(self, chunk_id: bytes, data: bytes) -> None:
        response = self._request("PUT", f"/api/chunks/{chunk_id.hex()}", content=data,
                                 headers={"Content-Type": "application/octet-stream"})
        if response.status_code not in (200, 201):
            raise StoreError(f"PUT chunk {chunk_id.hex()} to {self.url}: {response.status_code} "
                             f"{response.text[:200]}")

    def exists_many(self, chunk_ids: Sequence[bytes]) -> list[bool]:
        missing: set[str] = set()
        for start in range(0, len(chunk_ids), _BATCH):
            batch = [chunk_id.hex() for chunk_id in chunk_ids[start:start + _BATCH]]
            response = self._request("POST", "/api/chunks/missing", json=batch)
            if response.status_code != 200:
                raise StoreError(f"POST /api/chunks/missing to {self.url}: {response.status_code} "
                                 f"{response.text[:200]}")
            missing.update(response.json()["payload"]["missing"])
        return [chunk_id.hex() not in missing for chunk_id in chunk_ids]

    def delete(self, chunk_id: bytes) -> None:
        raise StoreError(f"the hub chunk API at {self.url} does not delete chunks")

    def close(self) -> None:
        self.client.close()
