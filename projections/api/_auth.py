"""Bearer tokens: a configured list, or HMAC-signed tokens `zos1.<subject>.<expiry>.<sig>`.

Signed tokens let an operator hand out expiring access without restarting the API:
`mint_token(secret, "alice", ttl=3600)`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import time

# A token travels in an HTTP header: printable ASCII only, and '.' separates its parts.
_SUBJECT = re.compile(r"^[!-~]+$")


class TokenError(Exception):
    """A token that is malformed, badly signed or expired; the message says which."""


def _sign(secret: str, payload: str) -> str:
    digest = hmac.new(secret.encode(), payload.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def mint_token(secret: str, subject: str, ttl: float = 3600.0, now: float | None = None) -> str:
    if not secret:
        raise TokenError("cannot sign a token without a secret")
    if "." in subject or not _SUBJECT.match(subject):
        raise TokenError(f"token subject {subject!r} must be non-empty printable ASCII without "
                         "spaces or '.'")
    expiry = int((now if now is not None else time.time()) + ttl)
    payload = f"zos1.{subject}.{expiry}"
    return f"{payload}.{_sign(secret, payload)}"


def check_token(token: str, tokens: list[str], secret: str, now: float | None = None) -> str:
    """The token's subject when it is accepted; `TokenError` otherwise."""
    for known in tokens:
        if hmac.compare_digest(token.encode(), known.encode()):
            return "token"
    parts = token.split(".")
    if not secret or len(parts) != 4 or parts[0] != "zos1":
        raise TokenError("unknown bearer token")
    payload = ".".join(parts[:3])
    if not hmac.compare_digest(parts[3], _sign(secret, payload)):
        raise TokenError("bad token signature")
    try:
        expiry = int(parts[2])
    except ValueError:
        raise TokenError("token expiry is not a number") from None
    if expiry < (now if now is not None else time.time()):
        raise TokenError(f"token expired at {expiry}")
    return parts[1]
