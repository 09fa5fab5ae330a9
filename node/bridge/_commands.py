"""The Redis commands the 0-core clients and common tools send, with Redis replies.

`Dispatcher.dispatch` turns one request into its encoded reply, or into a `Block` when a
blocking pop has to wait (the connection then parks a waiter in the store). Pushes to
`core:<queue>` keys do not land in the keyspace: they go to the intake, which hands them to
the node agent (spec core0-protocol §2.4).
"""

from __future__ import annotations

import dataclasses
import hmac
import math
from typing import Protocol
from collections.abc import Callable

from . import _resp as resp
from ._store import Store, StoreError
from .._errors import Usage

AUTH_REQUIRED = "permission denied, please call AUTH first with a valid JWT"
AUTH_INVALID = "invalid jwt"
AUTH_ARGS = "invalid number of arguments"
NOT_INTEGER = "ERR value is not an integer or out of range"
COMMAND_PREFIX = b"core:"


class Intake(Protocol):
    def push(self, key: bytes, values: list[bytes]) -> None: ...


@dataclasses.dataclass(frozen=True, slots=True)
class Block:
    """A blocking pop that found nothing: wait on `keys` for `timeout` s (0 = forever).

    `left` is the side popped; `dst` is set for BRPOPLPUSH (pushed on its left)."""

    keys: tuple[bytes, ...]
    timeout: float
    left: bool
    dst: bytes | None = None


class Quit:
    """Reply `+OK`, then close the connection."""


QUIT = Quit()


class Session:
    """What one connection carries between commands."""

    __slots__ = ("authenticated", "name", "protocol")

    def __init__(self, authenticated: bool) -> None:
        self.authenticated = authenticated
        self.name = b""
        self.protocol = 2  # RESP3 after `HELLO 3` (redis-py >= 7 sends it on connect)


def _int(raw: bytes) -> int:
    try:
        return int(raw)
    except ValueError:
        raise Usage(NOT_INTEGER) from None


def _timeout(raw: bytes) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise Usage("ERR timeout is not a float or out of range") from None
    if math.isnan(value) or math.isinf(value):
        raise Usage("ERR timeout is not a float or out of range")
    if value < 0:
        raise Usage("ERR timeout is negative")
    return value


def _unknown(args: list[bytes]) -> str:
    """redis-server's text, byte for byte: arguments quoted while under 128 characters."""
    shown = ""
    for arg in args[1:]:
        if len(shown) >= 128:
            break
        shown += f"'{arg[:128 - len(shown)].decode('utf-8', 'replace')}' "
    return (f"ERR unknown command '{args[0][:128].decode('utf-8', 'replace')}', "
            f"with args beginning with: {shown}")


Reply = bytes | Block | Quit
Handler = Callable[[Session, list[bytes]], Reply]


class Dispatcher:
    """One request in, one reply out. `password=None` disables AUTH (any password is accepted)."""

    def __init__(self, store: Store, intake: Intake, *, password: str | None = None,
                 info: Callable[[], dict[str, dict[str, object]]] | None = None) -> None:
        self.store = store
        self.intake = intake
        self.password = password.encode() if password else None
        self.info = info or (lambda: {})
        # name -> (handler, arity): arity > 0 exact argument count with the name, < 0 a minimum
        self.table: dict[bytes, tuple[Handler, int]] = {
            b"ping": (self.ping, -1), b"echo": (self.echo, 2), b"quit": (self.quit, -1),
            b"auth": (self.auth, -1), b"hello": (self.hello, -1), b"select": (self.select, 2), b"info": (self.info_cmd, -1),
            b"client": (self.client, -2), b"command": (self.command, -1),
            b"config": (self.config, -2), b"dbsize": (self.dbsize, 1),
            b"flushdb": (self.flush, -1), b"flushall": (self.flush, -1),
            b"exists": (self.exists, -2), b"lkeyexists": (self.exists, 2),
            b"ttl": (self.ttl, 2), b"lttl": (self.ttl, 2), b"pttl": (self.pttl, 2),
            b"expire": (self.expire, -3), b"pexpire": (self.pexpire, -3),
            b"persist": (self.persist, 2), b"del": (self.delete, -2), b"type": (self.type, 2),
            b"keys": (self.keys, 2), b"get": (self.get, 2), b"set": (self.set, -3),
            b"rpush": (self.rpush, -3), b"lpush": (self.lpush, -3),
            b"rpushx": (self.rpushx, -3), b"lpushx": (self.lpushx, -3),
            b"lpop": (self.lpop, -2), b"rpop": (self.rpop, -2),
            b"rpoplpush": (self.rpoplpush, 3), b"llen": (self.llen, 2),
            b"lrange": (self.lrange, 4), b"lindex": (self.lindex, 3), b"ltrim": (self.ltrim, 4),
            b"blpop": (self.blpop, -3), b"brpop": (self.brpop, -3),
            b"brpoplpush": (self.brpoplpush, 4),
        }

    def dispatch(self, session: Session, args: list[bytes]) -> Reply:
        name = args[0].lower()
        if not session.authenticated and name not in (b"auth", b"quit", b"hello"):
            return resp.error(AUTH_REQUIRED)
        entry = self.table.get(name)
        if entry is None:
            return resp.error(_unknown(args))
        handler, arity = entry
        if (arity > 0 and len(args) != arity) or len(args) < -arity:
            if name == b"auth":
                return resp.error(AUTH_ARGS)
            return resp.error(f"ERR wrong number of arguments for '{name.decode()}' command")
        try:
            return handler(session, args)
        except (Usage, StoreError) as exc:
            return resp.error(str(exc))

    # -- connection ---------------------------------------------------------------------
    def ping(self, session: Session, args: list[bytes]) -> Reply:
        if len(args) > 2:
            raise Usage("ERR wrong number of arguments for 'ping' command")
        return resp.PONG if len(args) == 1 else resp.bulk(args[1])

    def echo(self, session: Session, args: list[bytes]) -> Reply:
        return resp.bulk(args[1])

    def quit(self, session: Session, args: list[bytes]) -> Reply:
        return QUIT

    def auth(self, session: Session, args: list[bytes]) -> Reply:
        if self.password is None:
            return resp.OK
        if len(args) not in (2, 3):  # AUTH <token>, or AUTH <user> <token> (spec Q18)
            return resp.error(AUTH_ARGS)
        if hmac.compare_digest(args[-1], self.password):
            session.authenticated = True
            return resp.OK
        return resp.error(AUTH_INVALID)

    def hello(self, session: Session, args: list[bytes]) -> Reply:
        """HELLO [protover [AUTH user pass] [SETNAME name]]: current redis-py opens with `HELLO 3`."""
        protocol, i = session.protocol, 2
        if len(args) > 1:
            try:
                protocol = int(args[1])
            except ValueError:
                raise Usage("ERR Protocol version is not an integer or out of range") from None
            if protocol not in (2, 3):
                raise Usage("NOPROTO unsupported protocol version")
        while i < len(args):
            option = args[i].lower()
            if option == b"auth" and i + 2 < len(args):
                if self.password is not None and not hmac.compare_digest(args[i + 2], self.password):
                    raise Usage(AUTH_INVALID)
                session.authenticated = True
                i += 3
            elif option == b"setname" and i + 1 < len(args):
                session.name = args[i + 1]
                i += 2
            else:
                raise Usage(f"ERR Syntax error in HELLO option '{option.decode('utf-8', 'replace')}'")
        if not session.authenticated:
            raise Usage(AUTH_REQUIRED)
        session.protocol = protocol
        fields: list = [b"server", b"redis", b"version", b"7.0.0", b"proto", protocol,
                        b"id", id(session) & 0xFFFFFFFF, b"mode", b"standalone",
                        b"role", b"master", b"modules", []]
        return resp.map_(fields) if protocol == 3 else resp.array(fields)

    def select(self, session: Session, args: list[bytes]) -> Reply:
        _int(args[1])
        return resp.OK

    def client(self, session: Session, args: list[bytes]) -> Reply:
        sub = args[1].lower()
        if sub == b"setname" and len(args) == 3:
            session.name = args[2]
            return resp.OK
        if sub == b"getname":
            return resp.bulk(session.name or None)
        if sub == b"setinfo":
            return resp.OK
        if sub == b"id":
            return resp.integer(id(session) & 0xFFFFFFFF)
        return resp.error(f"ERR unknown subcommand '{args[1].decode('utf-8', 'replace')}'")

    def command(self, session: Session, args: list[bytes]) -> Reply:
        if len(args) > 1 and args[1].lower() == b"count":
            return resp.integer(len(self.table))
        return resp.EMPTY_ARRAY

    def config(self, session: Session, args: list[bytes]) -> Reply:
        # redis-benchmark and redis-cli read a few settings; the bridge persists nothing.
        if args[1].lower() != b"get":
            return resp.error("ERR CONFIG is read-only on the 0-core bridge")
        known = {b"save": b"", b"appendonly": b"no", b"databases": b"1",
                 b"maxmemory": str(self.store.max_bytes).encode()}
        out: list[bytes] = []
        for pattern in args[2:]:
            for key, value in known.items():
                if pattern == b"*" or key == pattern.lower():
                    out += [key, value]
        return resp.array(out)

    def info_cmd(self, session: Session, args: list[bytes]) -> Reply:
        wanted = {a.lower().decode("utf-8", "replace") for a in args[1:]} - {"all", "everything", "default"}
        lines = []
        for section, fields in self.info().items():
            if wanted and section.lower() not in wanted:
                continue
            lines.append(f"# {section}")
            lines += [f"{k}:{v}" for k, v in fields.items()]
            lines.append("")
        return resp.bulk("\r\n".join(lines).encode())

    # -- keyspace -----------------------------------------------------------------------
    def dbsize(self, session: Session, args: list[bytes]) -> Reply:
        self.store.sweep()
        return resp.integer(len(self.store))

    def flush(self, session: Session, args: list[bytes]) -> Reply:
        self.store.flush()
        return resp.OK

    def exists(self, session: Session, args: list[bytes]) -> Reply:
        return resp.integer(sum(self.store.exists(k) for k in args[1:]))

    def ttl(self, session: Session, args: list[bytes]) -> Reply:
        return resp.integer(self.store.ttl(args[1]))

    def pttl(self, session: Session, args: list[bytes]) -> Reply:
        return resp.integer(self.store.pttl(args[1]))

    def expire(self, session: Session, args: list[bytes]) -> Reply:
        return resp.integer(self.store.expire(args[1], _int(args[2])))

    def pexpire(self, session: Session, args: list[bytes]) -> Reply:
        return resp.integer(self.store.expire(args[1], _int(args[2]) / 1000))

    def persist(self, session: Session, args: list[bytes]) -> Reply:
        return resp.integer(self.store.persist(args[1]))

    def delete(self, session: Session, args: list[bytes]) -> Reply:
        return resp.integer(sum(self.store.delete(k) for k in args[1:]))

    def type(self, session: Session, args: list[bytes]) -> Reply:
        return resp.simple(self.store.type_of(args[1]))

    def keys(self, session: Session, args: list[bytes]) -> Reply:
        return resp.bulks(self.store.keys(args[1]))

    def get(self, session: Session, args: list[bytes]) -> Reply:
        return resp.bulk(self.store.get(args[1]))

    def set(self, session: Session, args: list[bytes]) -> Reply:
        ttl, nx, xx = None, False, False
        options = iter(args[3:])
        for option in options:
            word = option.lower()
            if word in (b"ex", b"px"):
                amount = _int(next(options, b"x"))
                if amount <= 0:
                    raise Usage("ERR invalid expire time in 'set' command")
                ttl = amount if word == b"ex" else amount / 1000
            elif word == b"nx":
                nx = True
            elif word == b"xx":
                xx = True
            else:
                raise Usage("ERR syntax error")
        if nx and xx:
            raise Usage("ERR syntax error")
        return resp.OK if self.store.set(args[1], args[2], ttl=ttl, nx=nx, xx=xx) else resp.NIL

    # -- lists --------------------------------------------------------------------------
    def _push(self, args: list[bytes], left: bool, only_existing: bool = False) -> Reply:
        key, values = args[1], args[2:]
        if key.startswith(COMMAND_PREFIX):
            self.intake.push(key, values)
            return resp.integer(len(values))
        return resp.integer(self.store.push(key, values, left=left, only_existing=only_existing))

    def rpush(self, session: Session, args: list[bytes]) -> Reply:
        return self._push(args, left=False)

    def lpush(self, session: Session, args: list[bytes]) -> Reply:
        return self._push(args, left=True)

    def rpushx(self, session: Session, args: list[bytes]) -> Reply:
        return self._push(args, left=False, only_existing=True)

    def lpushx(self, session: Session, args: list[bytes]) -> Reply:
        return self._push(args, left=True, only_existing=True)

    def _pop(self, args: list[bytes], left: bool) -> Reply:
        if len(args) > 3:
            raise Usage(f"ERR wrong number of arguments for '{args[0].lower().decode()}' command")
        if len(args) == 2:
            return resp.bulk(self.store.pop(args[1], left=left))  # type: ignore[arg-type]
        count = _int(args[2])
        if count < 0:
            raise Usage("ERR value is out of range, must be positive")
        return resp.array(self.store.pop(args[1], left=left, count=count))  # type: ignore[arg-type]

    def lpop(self, session: Session, args: list[bytes]) -> Reply:
        return self._pop(args, left=True)

    def rpop(self, session: Session, args: list[bytes]) -> Reply:
        return self._pop(args, left=False)

    def rpoplpush(self, session: Session, args: list[bytes]) -> Reply:
        return resp.bulk(self.store.move(args[1], args[2]))

    def llen(self, session: Session, args: list[bytes]) -> Reply:
        return resp.integer(self.store.llen(args[1]))

    def lrange(self, session: Session, args: list[bytes]) -> Reply:
        return resp.bulks(self.store.lrange(args[1], _int(args[2]), _int(args[3])))

    def lindex(self, session: Session, args: list[bytes]) -> Reply:
        index = _int(args[2])
        found = self.store.lrange(args[1], index, index)
        return resp.bulk(found[0] if found else None)

    def ltrim(self, session: Session, args: list[bytes]) -> Reply:
        self.store.ltrim(args[1], _int(args[2]), _int(args[3]))
        return resp.OK

    def _bpop(self, args: list[bytes], left: bool) -> Reply:
        keys, timeout = tuple(args[1:-1]), _timeout(args[-1])
        for key in keys:
            if self.store.llen(key):
                return resp.array([key, self.store.pop(key, left=left)])  # type: ignore[list-item]
        return Block(keys, timeout, left)

    def blpop(self, session: Session, args: list[bytes]) -> Reply:
        return self._bpop(args, left=True)

    def brpop(self, session: Session, args: list[bytes]) -> Reply:
        return self._bpop(args, left=False)

    def brpoplpush(self, session: Session, args: list[bytes]) -> Reply:
        src, dst, timeout = args[1], args[2], _timeout(args[3])
        if self.store.llen(src):
            return resp.bulk(self.store.move(src, dst))
        return Block((src,), timeout, left=False, dst=dst)
