"""Who is asking (spec §11.2): a bearer token names a user, who may act for other
repositories (the `active-user` cookie) when the token lists them."""

from __future__ import annotations

from typing import Any

from fastapi import Request

from ._config import HubConfig
from ._errors import ForbiddenError, UnauthorizedError
from ._repo import check_name


def acting_user(config: HubConfig, request: Request) -> str:
    """The repository a write goes to; raises when the hub is read-only or the token is bad."""
    if config.readonly:
        raise ForbiddenError("this hub is read-only")
    if not config.authentication:
        return "Administrator"
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise UnauthorizedError("missing bearer token (header 'Authorization: bearer <token>')")
    token = token.strip()
    if config.guest_token and token == config.guest_token:
        account: dict[str, Any] = {"user": "guest", "accounts": []}
    elif token in config.tokens:
        account = config.tokens[token]
    else:
        raise UnauthorizedError("invalid token")
    active = request.cookies.get("active-user")
    if active and active != account["user"]:
        if active not in account["accounts"]:
            raise ForbiddenError(f"user '{account['user']}' may not act as '{active}'")
        return check_name(active, "user")
    return check_name(account["user"], "user")
