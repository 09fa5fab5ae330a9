"""Every error the node agent raises, in one tree, so callers pick the level they catch at.

NodeError
 ├── CommandRejected     a message on a command subject cannot become a job (parked on the DLQ)
 ├── ConfigError         the agent's TOML config cannot be used           (also a ValueError)
 ├── SpawnError          a job's process could not be started
 ├── StatsdError         a level-10 message is not statsd                 (also a ValueError)
 ├── FileModeError       an open mode, or an fd used against its mode     (also a ValueError)
 ├── UnknownFd           no open file with this id                        (also a KeyError)
 ├── BuiltinError        a typed builtin failure with its 0-core code (400/404/406/412/500/503)
 ├── PartedOutputError   parted printed something unparseable             (also a ValueError)
 └── BridgeError         the Redis bridge
      ├── ProtocolError      the client broke RESP: the connection closes
      ├── Usage              a request does not fit its command (a Redis error reply)
      ├── StoreError         a command cannot apply to the keyspace (a Redis error reply)
      └── TLSSetupError      the bridge's certificate could not be made or loaded
"""

from __future__ import annotations


class NodeError(Exception):
    """Base of every error raised by zos.node."""


class CommandRejected(NodeError):
    """A message on the command subject that cannot become a job (no id, not a command).

    Raised to the bus consumer, which parks it on the dead-letter subject with this reason."""


class ConfigError(NodeError, ValueError):
    """A part of the agent's TOML config cannot be used."""


class SpawnError(NodeError):
    """The process could not be started; the message is 0-core's wording."""


class StatsdError(NodeError, ValueError):
    """A level-10 message that is not `key:value|A|D[|k=v,...]`."""


class FileModeError(NodeError, ValueError):
    """A mode that is not one of r w a x with an optional +, or an fd used against its mode."""


class UnknownFd(NodeError, KeyError):
    """No open file with this id (closed, expired, or never opened)."""


class BuiltinError(NodeError):
    """A typed builtin failure: 400 bad request, 404 not found, 406 not acceptable,
    412 precondition failed, 500 plain error, 503 unavailable."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class PartedOutputError(NodeError, ValueError):
    """parted printed something that is not its machine-readable format."""


class BridgeError(NodeError):
    """Base of the Redis bridge's errors."""


class ProtocolError(BridgeError):
    """The client broke RESP; the text follows `-ERR Protocol error: ` and the connection closes."""


class Usage(BridgeError):
    """The request does not fit the command; the message is the Redis error text."""


class StoreError(BridgeError):
    """A command cannot apply to the keyspace; the message is the Redis error text."""


class TLSSetupError(BridgeError):
    """The certificate could not be made or loaded."""
