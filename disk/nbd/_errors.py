"""Why a connection ends: the peer broke the protocol in a way that cannot be answered."""

from __future__ import annotations


class ProtocolViolation(Exception):
    """The stream is out of sync (bad magic, truncated header, absurd length): hang up."""


class ClientGone(Exception):
    """The client closed the connection (or aborted) during the handshake."""


class Unsupported(Exception):
    """The device cannot do this request as asked (answered ENOTSUP), e.g. a fast zero that
    would need a read-modify-write."""
