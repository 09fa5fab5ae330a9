"""The one subject-name helper: every subject of the log is built here."""

from __future__ import annotations

import hashlib
import re

_TOKEN = re.compile(r"^[A-Za-z0-9_-]{1,128}$")


def token(value: str) -> str:
    """One subject token for any id: kept when it is `[A-Za-z0-9_-]`, else hashed.

    Hashed tokens start with `h_` so they are recognisable; the readable name belongs in
    the event data.
    """
    if _TOKEN.match(value):
        return value
    return "h_" + hashlib.blake2b(value.encode(), digest_size=12).hexdigest()


def event_subject(aggregate: str, aggregate_id: str) -> str:
    return f"zos.evt.{token(aggregate)}.{token(aggregate_id)}"


def aggregate_filter(aggregate: str) -> str:
    return f"zos.evt.{token(aggregate)}.*"


def command_subject(node: str, queue: str = "default") -> str:
    return f"zos.cmd.{token(node)}.{token(queue or 'default')}"


def node_commands_filter(node: str) -> str:
    return f"zos.cmd.{token(node)}.>"


def log_subject(node: str, job: str) -> str:
    return f"zos.log.{token(node)}.{token(job)}"


def node_logs_filter(node: str) -> str:
    """Every log record of one node: streamed job output and logger queues."""
    return f"zos.log.{token(node)}.>"


def io_subject(kind: str, name: str) -> str:
    """`kind` is `fs`, `disk` or `node`: the part that measured it."""
    return f"zos.io.{token(kind)}.{token(name)}"


def tlog_subject(vdisk: str) -> str:
    return f"zos.tlog.{token(vdisk)}"


def dlq_subject(stream: str) -> str:
    return f"zos.dlq.{token(stream)}"


def subject_matches(pattern: str, subject: str) -> bool:
    """NATS wildcard match: `*` is one token, a final `>` one or more."""
    want, have = pattern.split("."), subject.split(".")
    for i, token in enumerate(want):
        if token == ">":
            return len(have) > i
        if i >= len(have) or (token != "*" and token != have[i]):
            return False
    return len(want) == len(have)
