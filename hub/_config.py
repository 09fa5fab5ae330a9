"""Hub configuration (spec §11.1). The command line (`zos hub serve`) builds it from flags >
ZOS_* > TOML [hub]; the hub itself reads no settings."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from zos.bus import BusConfig


@dataclasses.dataclass
class HubConfig:
    """Where flists live, which store takes chunks, who may write, where events go.

    `tokens` maps a bearer token to `{"user": name, "accounts": [other repositories]}`.
    With `bus`, the app connects at start-up and appends every change as an event.
    """

    data: Path
    listen: str = "127.0.0.1"
    port: int = 5555
    store: str = ""
    public_host: str = ""
    public_port: int = 0
    public_namespace: str = "default"
    website: str = ""
    tokens: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)
    guest_token: str = ""
    readonly: bool = False
    authentication: bool = True
    max_upload_size: int = 4 << 30
    max_chunk_size: int = 1 << 20
    official: list[str] = dataclasses.field(default_factory=list)
    bus: BusConfig | None = None

    @property
    def public_dir(self) -> Path:
        return self.data / "hub" / "users"

    @property
    def work_dir(self) -> Path:
        """Private scratch space: uploads in progress, archive copies. Same filesystem as
        `public_dir` so finished flists are renamed into place."""
        return self.data / "hub" / "work"

    @property
    def store_url(self) -> str:
        return self.store or str(self.data / "chunks")

    @property
    def public_url(self) -> str:
        return self.website or f"http://{self.listen}:{self.port}"

    def backend(self) -> dict[str, Any]:
        """Forced into every built flist's `metadata.backend` (spec §11.6 step 8). Without a
        public 0-db, the hub's own chunk API is advertised (`url`, a project extension)."""
        if self.public_host:
            return {"host": self.public_host, "port": self.public_port or 9900,
                    "namespace": self.public_namespace}
        return {"host": self.listen, "port": self.port, "namespace": self.public_namespace,
                "url": self.public_url}
