"""The rows a fold sees: `get`, `merge`, `delete` on named tables, keyed by primary key.

Folds never talk to the database. They call a `Rows`; `SqlRows` is the thin applier that
caches a batch's changes in memory and writes them with one `executemany` per table and
column set at `flush()` (fast replay), `MemoryRows` is the same contract on dicts (fold
tests without a database).
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ._models import metadata

Row = dict[str, Any]
Key = tuple[Any, ...]
_UNLOADED = object()


class Rows(Protocol):
    def get(self, table: str, *key: Any) -> Row | None:
        """The current row (after this batch's changes) or None."""

    def merge(self, table: str, values: Row) -> None:
        """Insert the row, or update only the given columns of the existing one."""

    def delete(self, table: str, *key: Any) -> None:
        """Remove the row; a missing row is fine."""


@functools.cache
def primary_key(table: str) -> tuple[str, ...]:
    return tuple(c.name for c in metadata.tables[table].primary_key.columns)


def _key(table: str, values: Row) -> Key:
    try:
        return tuple(values[name] for name in primary_key(table))
    except KeyError as exc:
        raise ValueError(f"row for table '{table}' lacks primary key column {exc}") from None


class MemoryRows:
    """Tables as dicts; the reference behaviour of `Rows`."""

    def __init__(self) -> None:
        self.tables: dict[str, dict[Key, Row]] = {}

    def get(self, table: str, *key: Any) -> Row | None:
        row = self.tables.get(table, {}).get(tuple(key))
        return dict(row) if row is not None else None

    def merge(self, table: str, values: Row) -> None:
        rows = self.tables.setdefault(table, {})
        key = _key(table, values)
        if key not in rows:
            defaults = {c.name: _default(c) for c in metadata.tables[table].columns}
            rows[key] = defaults
        rows[key].update(values)

    def delete(self, table: str, *key: Any) -> None:
        self.tables.get(table, {}).pop(tuple(key), None)


def _default(column: sa.Column) -> Any:
    if column.default is not None and column.default.is_scalar:
        return column.default.arg
    return None


@dataclasses.dataclass
class _Pending:
    base: Any = _UNLOADED        # the row as stored before the batch, None if absent
    deleted: bool = False        # delete the stored row first
    changes: Row = dataclasses.field(default_factory=dict)

    def view(self) -> Row | None:
        if self.deleted:
            return dict(self.changes) if self.changes else None
        if self.base is None and not self.changes:
            return None
        return {**(self.base or {}), **self.changes}


class SqlRows:
    """A batch's changes, applied by `flush()` inside the caller's transaction."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.pending: dict[str, dict[Key, _Pending]] = {}

    def _entry(self, table: str, key: Key) -> _Pending:
        return self.pending.setdefault(table, {}).setdefault(key, _Pending())

    def get(self, table: str, *key: Any) -> Row | None:
        entry = self._entry(table, tuple(key))
        if entry.base is _UNLOADED and not entry.deleted:
            if len(entry.changes) == len(metadata.tables[table].columns):
                return dict(entry.changes)  # every column set in this batch: no read needed
            entry.base = self._load(table, tuple(key))
        view = entry.view()
        if view is not None and (entry.deleted or entry.base is None):
            # merged into a row that is not stored (yet, or any more): defaults fill the rest
            view = {**{c.name: _default(c) for c in metadata.tables[table].columns}, **view}
        return view

    def _load(self, table: str, key: Key) -> Row | None:
        t = metadata.tables[table]
        clause = sa.and_(*(t.c[name] == value for name, value in zip(primary_key(table), key, strict=True)))
        found = self.conn.execute(sa.select(t).where(clause)).mappings().first()
        return dict(found) if found is not None else None

    def merge(self, table: str, values: Row) -> None:
        self._entry(table, _key(table, values)).changes.update(values)

    def delete(self, table: str, *key: Any) -> None:
        entry = self._entry(table, tuple(key))
        entry.deleted, entry.changes, entry.base = True, {}, None

    def flush(self) -> None:
        """Deletes first, then one upsert per table and column set."""
        dialect = self.conn.dialect.name
        for table, entries in self.pending.items():
            t = metadata.tables[table]
            names = primary_key(table)
            deleted = [dict(zip(names, key, strict=True)) for key, e in entries.items() if e.deleted]
            if deleted:
                clause = sa.and_(*(t.c[n] == sa.bindparam("k_" + n) for n in names))
                self.conn.execute(t.delete().where(clause),
                                  [{"k_" + n: row[n] for n in names} for row in deleted])
            groups: dict[tuple[str, ...], list[Row]] = {}
            for entry in entries.values():
                if entry.changes:
                    groups.setdefault(tuple(sorted(entry.changes)), []).append(entry.changes)
            for columns, rows in groups.items():
                self.conn.execute(_upsert(t, names, columns, dialect), rows)
        self.pending.clear()


def insert_missing(conn: Connection, table: str, rows: list[Row]) -> None:
    """Insert rows whose key is not there yet; concurrent inserters do not fail."""
    t = metadata.tables[table]
    conn.execute(_insert(conn.dialect.name)(t).on_conflict_do_nothing(
        index_elements=list(primary_key(table))), rows)


def _insert(dialect: str) -> Any:
    if dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    elif dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        raise ValueError(f"projections support sqlite and postgresql, not {dialect}")
    return insert


def _upsert(t: sa.Table, keys: tuple[str, ...], columns: tuple[str, ...], dialect: str) -> Any:
    stmt = _insert(dialect)(t)
    update = [c for c in columns if c not in keys]
    if not update:
        return stmt.on_conflict_do_nothing(index_elements=keys)
    return stmt.on_conflict_do_update(index_elements=keys,
                                      set_={c: stmt.excluded[c] for c in update})
