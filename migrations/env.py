"""Alembic environment of the projection schema (models: zos.projections.metadata).

Run through `zos db upgrade`, or plain `alembic -c migrations/alembic.ini upgrade head`
with `-x url=...`. SQLite uses batch mode so ALTERs work there too.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from zos.projections import metadata
from zos.projections._db import normalize_url

config = context.config


def _url() -> str:
    return normalize_url(context.get_x_argument(as_dictionary=True).get("url")
                         or config.get_main_option("sqlalchemy.url") or "sqlite:///zos.db")


def run_offline() -> None:
    context.configure(url=_url(), target_metadata=metadata, literal_binds=True,
                      render_as_batch=_url().startswith("sqlite"))
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _migrate(connection)
        return
    engine = create_engine(_url())
    with engine.begin() as conn:
        _migrate(conn)
    engine.dispose()


def _migrate(connection) -> None:  # noqa: ANN001 (alembic hands us a Connection)
    context.configure(connection=connection, target_metadata=metadata,
                      render_as_batch=connection.dialect.name == "sqlite", compare_type=True)
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
