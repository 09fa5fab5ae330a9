"""Hub configuration (spec §11.1) from the one settings loader: flags > ZOS_* > TOML [hub]."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from zos.settings import Settings, SettingsError


@dataclasses.dataclass
class HubConfig:
    """Where flists live, which store takes chunks, who may write.

    `tokens` maps a bearer token to `{"user": name, "accounts": [other repositories]}`.
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
    nats: str | None = None

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


def parse_tokens(raw: Any) -> dict[str, dict[str, Any]]:
    """`"tok1:alice,tok2:bob+team"` (env) or a TOML table `{tok1 = "alice", tok2 = ["bob", "team"]}`."""
    tokens: dict[str, dict[str, Any]] = {}
    if isinstance(raw, str):
        for item in filter(None, (part.strip() for part in raw.split(","))):
            token, sep, users = item.partition(":")
            if not sep or not users:
                raise SettingsError(f"hub token entry '{item}' is not TOKEN:USER[+ACCOUNT...]")
            names = users.split("+")
            tokens[token] = {"user": names[0], "accounts": names[1:]}
    elif isinstance(raw, dict):
        for token, users in raw.items():
            names = [users] if isinstance(users, str) else list(users)
            tokens[token] = {"user": names[0], "accounts": names[1:]}
    elif raw:
        raise SettingsError(f"hub tokens {raw!r} must be a string or a table")
    return tokens


def load_config(settings: Settings) -> HubConfig:
    get = settings.get
    return HubConfig(
        data=settings.data_dir, listen=get("listen", "127.0.0.1"), port=int(get("port", 5555)),
        store=get("store", ""), public_host=get("public_host", ""), public_port=int(get("public_port", 0)),
        public_namespace=get("public_namespace", "default"), website=get("website", ""),
        tokens=parse_tokens(get("tokens", "")), guest_token=get("guest_token", ""),
        readonly=bool(get("readonly", False)), authentication=bool(get("authentication", True)),
        max_upload_size=int(get("max_upload_size", 4 << 30)), official=list(get("official", [])),
        nats=get("nats"))
