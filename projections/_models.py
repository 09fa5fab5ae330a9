"""SQLAlchemy models of the projection tables (the resource-pool view).

Every projected row carries `updated_seq`: the stream sequence of the last event that changed
it. `projection_checkpoints` holds, per projector and stream, the last applied sequence; it is
written in the same transaction as the rows (see `_runner.py`).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: sa.JSON, list[Any]: sa.JSON}


metadata = Base.metadata


class Checkpoint(Base):
    __tablename__ = "projection_checkpoints"
    name: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    stream: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    last_seq: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    last_time: Mapped[int] = mapped_column(sa.BigInteger, default=0, doc="event time (ns) of last_seq")
    applied: Mapped[int] = mapped_column(sa.BigInteger, default=0, doc="events handled")
    skipped: Mapped[int] = mapped_column(sa.BigInteger, default=0, doc="unknown types, undecodable")
    updated_ns: Mapped[int] = mapped_column(sa.BigInteger, default=0)


class Node(Base):
    __tablename__ = "nodes"
    id: Mapped[str] = mapped_column(sa.String(128), primary_key=True)
    hostname: Mapped[str] = mapped_column(sa.String(255), default="")
    ipaddress: Mapped[str] = mapped_column(sa.String(64), default="")
    status: Mapped[str] = mapped_column(sa.String(16), default="running")
    version: Mapped[str] = mapped_column(sa.String(128), default="")
    kernel: Mapped[str] = mapped_column(sa.String(255), default="")
    cpus: Mapped[int] = mapped_column(sa.Integer, default=0)
    memory: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    bridge: Mapped[str] = mapped_column(sa.String(255), default="")
    boot_count: Mapped[int] = mapped_column(sa.Integer, default=0)
    booted_at: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    updated_seq: Mapped[int] = mapped_column(sa.BigInteger, default=0)


class NodeSnapshot(Base):
    """Last reported hardware/OS facts of a node, one row per kind (cpus, mem, nics, ...)."""

    __tablename__ = "node_snapshots"
    node: Mapped[str] = mapped_column(sa.String(128), primary_key=True)
    kind: Mapped[str] = mapped_column(sa.String(16), primary_key=True)
    data: Mapped[Any] = mapped_column(sa.JSON, nullable=True)
    reported_at: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    updated_seq: Mapped[int] = mapped_column(sa.BigInteger, default=0)


class Job(Base):
    __tablename__ = "jobs"
    id: Mapped[str] = mapped_column(sa.String(128), primary_key=True)
    node: Mapped[str] = mapped_column(sa.String(128), default="", index=True)
    command: Mapped[str] = mapped_column(sa.String(128), default="")
    arguments: Mapped[Any] = mapped_column(sa.JSON, nullable=True)
    queue: Mapped[str] = mapped_column(sa.String(128), default="")
    tags: Mapped[Any] = mapped_column(sa.JSON, nullable=True)
    state: Mapped[str] = mapped_column(sa.String(16), default="")
    pid: Mapped[int] = mapped_column(sa.Integer, default=0)
    runs: Mapped[int] = mapped_column(sa.Integer, default=0)
    starttime: Mapped[int] = mapped_column(sa.BigInteger, default=0, doc="ms since epoch")
    duration: Mapped[int] = mapped_column(sa.BigInteger, default=0, doc="ms")
    code: Mapped[int] = mapped_column(sa.Integer, default=0)
    level: Mapped[int] = mapped_column(sa.Integer, default=0)
    data: Mapped[str] = mapped_column(sa.Text, default="")
    stdout: Mapped[str] = mapped_column(sa.Text, default="")
    stderr: Mapped[str] = mapped_column(sa.Text, default="")
    accepted_at: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    finished_at: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    updated_seq: Mapped[int] = mapped_column(sa.BigInteger, default=0)


class Bridge(Base):
    __tablename__ = "bridges"
    node: Mapped[str] = mapped_column(sa.String(128), primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    hwaddr: Mapped[str] = mapped_column(sa.String(32), default="")
    network_mode: Mapped[str] = mapped_column(sa.String(16), default="none")
    nat: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    setting: Mapped[Any] = mapped_column(sa.JSON, nullable=True)
    status: Mapped[str] = mapped_column(sa.String(16), default="up")
    job: Mapped[str] = mapped_column(sa.String(128), default="")
    updated_seq: Mapped[int] = mapped_column(sa.BigInteger, default=0)


class BridgeRequest(Base):
    """A bridge.create/bridge.delete command accepted but not finished yet."""

    __tablename__ = "bridge_requests"
    job: Mapped[str] = mapped_column(sa.String(128), primary_key=True)
    node: Mapped[str] = mapped_column(sa.String(128), default="")
    action: Mapped[str] = mapped_column(sa.String(16), default="")
    arguments: Mapped[Any] = mapped_column(sa.JSON, nullable=True)
    updated_seq: Mapped[int] = mapped_column(sa.BigInteger, default=0)


def table(name: str) -> sa.Table:
    return metadata.tables[name]


class Flist(Base):
    """What the hub's events say exists: files, symlinks, tags (with `members`) and taglinks."""

    __tablename__ = "flists"
    repo: Mapped[str] = mapped_column(sa.String(255), primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(255), primary_key=True)
    type: Mapped[str] = mapped_column(sa.String(16), default="regular")
    size: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    md5: Mapped[str] = mapped_column(sa.String(64), default="")
    target: Mapped[str] = mapped_column(sa.String(512), default="")
    members: Mapped[Any] = mapped_column(sa.JSON, nullable=True)
    updated: Mapped[int] = mapped_column(sa.BigInteger, default=0, doc="event time, ns")
    updated_seq: Mapped[int] = mapped_column(sa.BigInteger, default=0)


class Vdisk(Base):
    __tablename__ = "vdisks"
    name: Mapped[str] = mapped_column(sa.String(255), primary_key=True)
    size: Mapped[int] = mapped_column(sa.BigInteger, default=0, doc="bytes")
    block_size: Mapped[int] = mapped_column(sa.Integer, default=4096)
    type: Mapped[str] = mapped_column(sa.String(16), default="")
    storage: Mapped[str] = mapped_column(sa.String(1024), default="")
    read_only: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    template: Mapped[str] = mapped_column(sa.String(1024), default="")
    status: Mapped[str] = mapped_column(sa.String(16), default="halted")
    node: Mapped[str] = mapped_column(sa.String(128), default="")
    server: Mapped[str] = mapped_column(sa.String(255), default="")
    error: Mapped[str] = mapped_column(sa.Text, default="")
    updated_seq: Mapped[int] = mapped_column(sa.BigInteger, default=0)


class StorageCluster(Base):
    __tablename__ = "storage_clusters"
    label: Mapped[str] = mapped_column(sa.String(255), primary_key=True)
    servers: Mapped[Any] = mapped_column(sa.JSON, nullable=True)
    updated_seq: Mapped[int] = mapped_column(sa.BigInteger, default=0)


class StoragePool(Base):
    """A node's btrfs storage pool (events/catalog/storagepool.py); sizes in bytes as of the
    last event that reported them. `filesystems` names its filesystems (for cascades)."""

    __tablename__ = "storagepools"
    node: Mapped[str] = mapped_column(sa.String(128), primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    uuid: Mapped[str] = mapped_column(sa.String(64), default="")
    label: Mapped[str] = mapped_column(sa.String(128), default="")
    mountpoint: Mapped[str] = mapped_column(sa.String(1024), default="")
    metadata_profile: Mapped[str] = mapped_column(sa.String(16), default="")
    data_profile: Mapped[str] = mapped_column(sa.String(16), default="")
    devices: Mapped[Any] = mapped_column(sa.JSON, nullable=True, doc="[{device, uuid}]")
    size: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    used: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    status: Mapped[str] = mapped_column(sa.String(16), default="healthy")
    error: Mapped[str] = mapped_column(sa.Text, default="")
    filesystems: Mapped[Any] = mapped_column(sa.JSON, nullable=True)
    updated_seq: Mapped[int] = mapped_column(sa.BigInteger, default=0)


class PoolFilesystem(Base):
    __tablename__ = "pool_filesystems"
    node: Mapped[str] = mapped_column(sa.String(128), primary_key=True)
    pool: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    path: Mapped[str] = mapped_column(sa.String(1024), default="")
    quota: Mapped[int] = mapped_column(sa.BigInteger, default=0, doc="bytes, 0 = none")
    read_only: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    used: Mapped[int] = mapped_column(sa.BigInteger, default=0, doc="bytes, at the last event")
    snapshots: Mapped[Any] = mapped_column(sa.JSON, nullable=True)
    updated_seq: Mapped[int] = mapped_column(sa.BigInteger, default=0)


class PoolSnapshot(Base):
    __tablename__ = "pool_snapshots"
    node: Mapped[str] = mapped_column(sa.String(128), primary_key=True)
    pool: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    filesystem: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    path: Mapped[str] = mapped_column(sa.String(1024), default="")
    timestamp: Mapped[int] = mapped_column(sa.BigInteger, default=0, doc="seconds since the epoch")
    used: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    updated_seq: Mapped[int] = mapped_column(sa.BigInteger, default=0)


class Vm(Base):
    """A VM of a node, folded from `vm.*` events (the VMs projector)."""

    __tablename__ = "vms"
    uuid: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(255), default="")
    node: Mapped[str] = mapped_column(sa.String(128), default="", index=True)
    status: Mapped[str] = mapped_column(sa.String(16), default="deploying", doc="RAML EnumVMStatus")
    state: Mapped[str] = mapped_column(sa.String(16), default="", doc="the node's kvm state")
    cpu: Mapped[int] = mapped_column(sa.Integer, default=0)
    memory: Mapped[int] = mapped_column(sa.Integer, default=0, doc="MiB")
    media: Mapped[Any] = mapped_column(sa.JSON, nullable=True)
    nics: Mapped[Any] = mapped_column(sa.JSON, nullable=True)
    accel: Mapped[str] = mapped_column(sa.String(8), default="")
    updated_seq: Mapped[int] = mapped_column(sa.BigInteger, default=0)
