"""Errors of the projections part.

    ProjectionError
    ├── CheckpointMoved      another runner (or a rebuild) advanced or reset a checkpoint
    ├── UnknownProjector     a name that no projector module declares
    └── MigrationsNotFound   the Alembic environment is not where we look for it
"""

from __future__ import annotations


class ProjectionError(Exception):
    """Base of every error raised by zos.projections."""


class CheckpointMoved(ProjectionError):
    def __init__(self, name: str, stream: str, expected: int) -> None:
        super().__init__(f"checkpoint of projector '{name}' on {stream} is no longer at {expected}: "
                         "another runner or a rebuild moved it")
        self.name = name
        self.stream = stream
        self.expected = expected


class UnknownProjector(ProjectionError):
    def __init__(self, name: str, known: list[str]) -> None:
        super().__init__(f"no projector named '{name}' (known: {', '.join(known)})")
        self.name = name


class MigrationsNotFound(ProjectionError):
    """Raised when `migrations/` is neither at ZOS_MIGRATIONS nor next to the package."""
