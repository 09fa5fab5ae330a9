"""The NBD protocol side of `zos.disk`: handshake, transmission and the server.

Layout after nbdkit's `server/`: `_handshake.py` (fixed newstyle), `_protocol.py` (requests
and replies), `_server.py` (connections and listeners). It knows nothing about vdisks: it
serves any `Exports`.
"""

from . import _constants as constants
from ._errors import ClientGone, ProtocolViolation, Unsupported
from ._exports import Device, ExportInfo, Exports
from ._handshake import Handshake, Negotiated, transmission_flags
from ._protocol import Request, check_request, parse_request
from ._server import NBDServer

__all__ = [
    "ClientGone",
    "Device",
    "ExportInfo",
    "Exports",
    "Handshake",
    "NBDServer",
    "Negotiated",
    "ProtocolViolation",
    "Request",
    "check_request",
    "constants",
    "parse_request",
    "transmission_flags",
    "Unsupported",
]
