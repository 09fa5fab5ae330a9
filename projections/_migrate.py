"""Alembic, driven from code: `zos db upgrade` and the runner's start-up both call `upgrade()`.

The Alembic environment lives in the repository's `migrations/` folder (next to
`projections/`), which an editable install keeps in place; `ZOS_MIGRATIONS` points elsewhere
for other layouts.
"""

from __future__ import annotations

import os
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Engine

from ._db import normalize_url
from ._errors import MigrationsNotFound


def migrations_dir() -> Path:
    configured = os.environ.get("ZOS_MIGRATIONS")
    folder = Path(configured) if configured else Path(__file__).resolve().parent.parent / "migrations"
    if not (folder / "env.py").is_file():
        raise MigrationsNotFound(
            f"no Alembic environment at {folder} (env.py missing); set ZOS_MIGRATIONS to the "
            "repository's migrations/ folder")
    return folder


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(migrations_dir()))
    config.set_main_option("sqlalchemy.url", normalize_url(url).replace("%", "%%"))
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to `revision`; a no-op when it is there already."""
    config = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, revision)


def downgrade(engine: Engine, revision: str = "base") -> None:
    config = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, revision)


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
