"""The Alembic migrations and the models agree, and go up and down, on both databases."""

from __future__ import annotations

import subprocess
import sys

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from zos.projections import current_revision, downgrade, head_revision, make_engine, metadata, upgrade



def _tables(engine: sa.Engine) -> set[str]:
    return set(sa.inspect(engine).get_table_names())


def test_upgrade_matches_models_and_downgrade_empties(db_url: str) -> None:
    engine = make_engine(db_url)
    upgrade(engine)
    assert current_revision(engine) == head_revision()
    assert _tables(engine) == set(metadata.tables) | {"alembic_version"}
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), metadata)
    assert diff == [], f"models and migrations differ: {diff}"
    upgrade(engine)  # idempotent
    downgrade(engine, "base")
    assert _tables(engine) <= {"alembic_version"}
    assert current_revision(engine) is None
    upgrade(engine)
    assert _tables(engine) >= set(metadata.tables)
    engine.dispose()


def test_zos_db_upgrade_cli(db_url: str, zos_env: dict) -> None:
    out = subprocess.run([sys.executable, "-m", "zos", "db", "upgrade", "--db", db_url], env=zos_env,
                         cwd="/", capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert f"at revision {head_revision()}" in out.stdout
    assert "password" not in out.stdout
    assert current_revision(make_engine(db_url)) == head_revision()


def test_missing_migrations_folder_is_a_clear_error(tmp_path, monkeypatch) -> None:
    from zos.projections import MigrationsNotFound, migrations_dir

    monkeypatch.setenv("ZOS_MIGRATIONS", str(tmp_path / "nowhere"))
    try:
        migrations_dir()
    except MigrationsNotFound as exc:
        assert "nowhere" in str(exc) and "ZOS_MIGRATIONS" in str(exc)
    else:
        raise AssertionError("no error for a missing migrations folder")
