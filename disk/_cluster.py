"""Storage clusters: an ordered list of Redis-protocol servers and the upstream sharding rule.

`shard(objectIndex)` is upstream `nbd/ardb/cluster.go`: `objectIndex % N` over the servers in
list order; a `rip` server is skipped by walking jump-consistent-hash with increasing keys; an
`offline`, `repair` or `respread` server fails the operation instead of being rerouted.
"""

from __future__ import annotations

import dataclasses
from typing import Any
from collections.abc import Sequence

from ._errors import StorageError, VdiskConfigError

STATES = ("online", "offline", "repair", "respread", "rip")


@dataclasses.dataclass(frozen=True)
class StorageServer:
    address: str            # "host:port"; empty for a rip server
    db: int = 0
    state: str = "online"

    def __post_init__(self) -> None:
        if self.state not in STATES:
            raise VdiskConfigError(f"storage server state '{self.state}' is not one of {', '.join(STATES)}")
        if self.state != "rip":
            host, _, port = self.address.rpartition(":")
            if not host or not port.isdigit():
                raise VdiskConfigError(f"storage server address '{self.address}' is not host:port")

    @property
    def host(self) -> str:
        return self.address.rpartition(":")[0]

    @property
    def port(self) -> int:
        return int(self.address.rpartition(":")[2])

    def to_dict(self) -> dict[str, Any]:
        return {"address": self.address, "db": self.db, "state": self.state}


@dataclasses.dataclass(frozen=True)
class StorageCluster:
    servers: tuple[StorageServer, ...]

    def __post_init__(self) -> None:
        if not self.servers:
            raise VdiskConfigError("a storage cluster needs at least one server")
        if all(s.state == "rip" for s in self.servers):
            raise VdiskConfigError("every server of the storage cluster is rip")

    @classmethod
    def from_url(cls, url: str) -> StorageCluster:
        """`redis://host:port[/db][,host:port[/db]...]` — servers in shard order."""
        if not url.startswith("redis://"):
            raise VdiskConfigError(f"storage URL '{url}' is not redis://host:port[/db][,host:port...]")
        servers = []
        for part in url[len("redis://"):].split(","):
            address, _, db = part.strip().partition("/")
            if db and not db.isdigit():
                raise VdiskConfigError(f"storage URL '{url}': database '{db}' is not a number")
            servers.append(StorageServer(address, int(db or 0)))
        return cls(tuple(servers))

    @classmethod
    def from_dicts(cls, servers: Sequence[dict[str, Any]]) -> StorageCluster:
        return cls(tuple(StorageServer(s.get("address", ""), int(s.get("db", 0)),
                                       s.get("state", "online")) for s in servers))

    def shard(self, object_index: int) -> int:
        """The server index that holds `object_index` (raises `StorageError` if unusable)."""
        count = len(self.servers)
        index = object_index % count
        server = self.servers[index]
        key = object_index
        while server.state == "rip":
            key += 1
            index = jump_hash(key, count)
            server = self.servers[index]
        if server.state != "online":
            raise StorageError(f"storage server {index} ({server.address}) is {server.state}")
        return index

    def first_online(self) -> int:
        for index, server in enumerate(self.servers):
            if server.state == "online":
                return index
        raise StorageError("no storage server of the cluster is online")


def jump_hash(key: int, buckets: int) -> int:
    """Lamping & Veach jump consistent hash, as Go's `jump.Hash(uint64, int32)`."""
    key &= 0xFFFFFFFFFFFFFFFF
    b, j = -1, 0
    while j < buckets:
        b = j
        key = (key * 2862933555777941757 + 1) & 0xFFFFFFFFFFFFFFFF
        j = int((b + 1) * (float(1 << 31) / float((key >> 33) + 1)))
    return b
