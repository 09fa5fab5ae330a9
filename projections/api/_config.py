"""How the API is set up: database, auth, bounded waits, in-process projectors."""

from __future__ import annotations

import dataclasses
from pathlib import Path


@dataclasses.dataclass
class ApiConfig:
    """`tokens` are accepted as they are; `secret` verifies signed tokens (`mint_token`).
    With neither, `auth=False` must be explicit (local mode, loopback only)."""

    db_url: str
    nats: str = "nats://127.0.0.1:4222"
    nats_options: dict = dataclasses.field(default_factory=dict)
    tokens: list[str] = dataclasses.field(default_factory=list)
    secret: str = ""
    auth: bool = True
    wait: float = 30.0
    run_projectors: bool = True
    data_dir: Path | None = None  # where the stack keeps vdisk blocks (`ZOS_DATA`)
