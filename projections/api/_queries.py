"""Read queries over the projection tables; each takes the engine and returns plain values."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from .._models import metadata

NODES = metadata.tables["nodes"]
SNAPSHOTS = metadata.tables["node_snapshots"]
JOBS = metadata.tables["jobs"]
BRIDGES = metadata.tables["bridges"]


def _all(engine: Engine, query: Any) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(query).mappings()]


def _one(engine: Engine, query: Any) -> dict[str, Any] | None:
    with engine.connect() as conn:
        row = conn.execute(query).mappings().first()
    return dict(row) if row is not None else None


def list_nodes(engine: Engine) -> list[dict[str, Any]]:
    return _all(engine, sa.select(NODES).order_by(NODES.c.id))


def get_node(engine: Engine, node: str) -> dict[str, Any] | None:
    return _one(engine, sa.select(NODES).where(NODES.c.id == node))


def get_snapshot(engine: Engine, node: str, kind: str) -> dict[str, Any] | None:
    return _one(engine, sa.select(SNAPSHOTS).where(SNAPSHOTS.c.node == node,
                                                   SNAPSHOTS.c.kind == kind))


def list_jobs(engine: Engine, node: str) -> list[dict[str, Any]]:
    cols = (JOBS.c.id, JOBS.c.command, JOBS.c.state, JOBS.c.starttime)
    return _all(engine, sa.select(*cols).where(JOBS.c.node == node).order_by(JOBS.c.id))


def get_job(engine: Engine, node: str, job: str) -> dict[str, Any] | None:
    return _one(engine, sa.select(JOBS).where(JOBS.c.node == node, JOBS.c.id == job))


def list_bridges(engine: Engine, node: str) -> list[dict[str, Any]]:
    return _all(engine, sa.select(BRIDGES).where(BRIDGES.c.node == node).order_by(BRIDGES.c.name))


def get_bridge(engine: Engine, node: str, name: str) -> dict[str, Any] | None:
    return _one(engine, sa.select(BRIDGES).where(BRIDGES.c.node == node, BRIDGES.c.name == name))
