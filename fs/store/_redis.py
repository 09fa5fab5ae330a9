"""Chunks on a Redis-protocol server: Redis, ARDB or 0-db (spec §9.1).

Keys are the 16 raw id bytes. 0-db namespaces are selected with `SELECT ns [password]` on
every new connection; plain Redis with a namespace may use the upstream "hash mode"
(`HGET/HSET <namespace> <id>`) when asked for explicitly (`?mode=hash`).
"""

from __future__ import annotations

import importlib.util
import time
from typing import Any
from collections.abc import Sequence

import redis

from ._base import ChunkStore
from ._errors import StoreUnavailableError

_ATTEMPTS = 3
# 0-db rejects CLIENT SETINFO: switch it off (redis-py >= 7 spells it driver_info=None).
_NO_SETINFO: dict[str, Any] = (
    {"driver_info": None} if importlib.util.find_spec("redis.driver_info")
    else {"lib_name": None, "lib_version": None})


class RedisStore(ChunkStore):
    def __init__(self, url: str, host: str = "", port: int = 6379, password: str | None = None,
                 namespace: str | None = None, zdb: bool = False, hash_mode: bool = False,
                 unix_socket: str | None = None) -> None:
        self.url = url
        self.namespace = namespace
        self.hash_mode = hash_mode and bool(namespace)
        select = zdb and namespace not in (None, "", "default")
        ns_password = password if select else None

        def on_connect(conn: Any) -> None:
            conn.on_connect()
            if select:
                args = ["SELECT", namespace] + ([ns_password] if ns_password else [])
                conn.send_command(*args)
                conn.read_response()

        common: dict[str, Any] = dict(
            password=None if select else password, socket_connect_timeout=5, socket_timeout=30,
            max_connections=12, redis_connect_func=on_connect, **_NO_SETINFO)
        if unix_socket:
            self.pool = redis.BlockingConnectionPool(connection_class=redis.UnixDomainSocketConnection,
                                                     path=unix_socket, **common)
        else:
            self.pool = redis.BlockingConnectionPool(host=host, port=port, **common)
        self.client = redis.Redis(connection_pool=self.pool)

    def _call(self, what: str, func: Any, *args: Any) -> Any:
        delay = 0.1
        for attempt in range(_ATTEMPTS):
            try:
                return func(*args)
            except (redis.ConnectionError, redis.TimeoutError) as exc:
                if attempt == _ATTEMPTS - 1:
                    raise StoreUnavailableError(f"{what} on {self.url} failed: {exc}") from exc
                time.sleep(delay)
                delay *= 4
            except redis.ResponseError as exc:
                raise StoreUnavailableError(f"{what} on {self.url} refused: {exc}") from exc
        raise AssertionError("unreachable")

    def get(self, chunk_id: bytes) -> bytes | None:
        if self.hash_mode:
            return self._call("HGET", self.client.hget, self.namespace, chunk_id)
        return self._call("GET", self.client.get, chunk_id)

    def set(self, chunk_id: bytes, data: bytes) -> None:
        # The reply is not interpreted: 0-db answers with the key instead of OK.
        if self.hash_mode:
            self._call("HSET", self.client.execute_command, "HSET", self.namespace, chunk_id, data)
        else:
            self._call("SET", self.client.execute_command, "SET", chunk_id, data)

    def _pipeline(self, what: str, commands: list[tuple[Any, ...]]) -> list[Any]:
        def run() -> list[Any]:
            pipe = self.client.pipeline(transaction=False)
            for command in commands:
                pipe.execute_command(*command)
            return pipe.execute()
        return self._call(what, run)

    def exists_many(self, chunk_ids: Sequence[bytes]) -> list[bool]:
        if not chunk_ids:
            return []
        if self.hash_mode:
            commands = [("HEXISTS", self.namespace, chunk_id) for chunk_id in chunk_ids]
        else:
            commands = [("EXISTS", chunk_id) for chunk_id in chunk_ids]
        return [bool(reply) for reply in self._pipeline("EXISTS", commands)]

    def set_many(self, items: Any) -> None:
        items = list(items)
        if not items:
            return
        if self.hash_mode:
            commands = [("HSET", self.namespace, chunk_id, data) for chunk_id, data in items]
        else:
            commands = [("SET", chunk_id, data) for chunk_id, data in items]
        self._pipeline("SET", commands)

    def delete(self, chunk_id: bytes) -> None:
        if self.hash_mode:
            self._call("HDEL", self.client.hdel, self.namespace, chunk_id)
        else:
            self._call("DEL", self.client.delete, chunk_id)

    def close(self) -> None:
        self.client.close()
        self.pool.disconnect()
