"""SQL projections of the event log and the resource-pool REST API (0-orchestrator shaped).

Engine (`_runner`, `_rows`, `_projector`, `_models`, `_migrate`) here; one module per
projector in `projectors/`; the HTTP API in `api/`.

    engine = make_engine("sqlite:///zos.db"); upgrade(engine)
    runner = Runner(engine, bus, all_projectors())
    await runner.run(follow=False)
"""

from ._db import default_db_url, make_engine, normalize_url, redact
from ._errors import CheckpointMoved, MigrationsNotFound, ProjectionError, UnknownProjector
from ._migrate import (alembic_config, current_revision, downgrade, head_revision, migrations_dir,
                       upgrade)
from ._models import Base, metadata
from ._projector import Projector, all_projectors, handles, select_projectors
from ._rows import MemoryRows, Rows, SqlRows
from ._runner import BatchDone, Runner, read_checkpoints, reset_projector
from ._status import projector_status, rebuild

__all__ = [
    "Base",
    "BatchDone",
    "CheckpointMoved",
    "MemoryRows",
    "MigrationsNotFound",
    "ProjectionError",
    "Projector",
    "Rows",
    "Runner",
    "SqlRows",
    "UnknownProjector",
    "alembic_config",
    "all_projectors",
    "current_revision",
    "default_db_url",
    "downgrade",
    "handles",
    "head_revision",
    "make_engine",
    "metadata",
    "migrations_dir",
    "normalize_url",
    "projector_status",
    "read_checkpoints",
    "rebuild",
    "redact",
    "reset_projector",
    "select_projectors",
    "upgrade",
]
