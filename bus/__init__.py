"""The backbone adapter: NATS JetStream streams, append with dedup and OCC, replay, consumers.

Everything that touches NATS goes through here; callers never import `nats`.

    bus = await connect("nats://127.0.0.1:4222", actor="cli")
    seq = await bus.append(new_event("node.booted", "node", "n1", {"node": "n1"}))
    async for item in bus.replay("zos.evt.node.*"):
        print(item.seq, item.event.type)
"""

from ._broker import EmbeddedBroker, die_with_parent, free_port, nats_server_binary, wait_for_port
from ._bus import TYPE_HEADER, Bus, Delivered, Handler, connect, jsonable
from ._errors import BrokerError, BusError, BusUnavailable, ConcurrencyError
from ._times import parse_time
from ._streams import STREAM_NAMES, STREAMS, StreamSpec, ensure_streams, stream_for_subject
from ._subjects import (aggregate_filter, command_subject, dlq_subject, event_subject,
                        io_subject, log_subject, node_commands_filter, node_logs_filter, tlog_subject, token)

__all__ = [
    "BrokerError",
    "Bus",
    "BusError",
    "BusUnavailable",
    "ConcurrencyError",
    "Delivered",
    "EmbeddedBroker",
    "Handler",
    "STREAMS",
    "STREAM_NAMES",
    "StreamSpec",
    "TYPE_HEADER",
    "aggregate_filter",
    "command_subject",
    "connect",
    "die_with_parent",
    "dlq_subject",
    "ensure_streams",
    "event_subject",
    "free_port",
    "io_subject",
    "jsonable",
    "log_subject",
    "nats_server_binary",
    "node_commands_filter",
    "node_logs_filter",
    "parse_time",
    "stream_for_subject",
    "tlog_subject",
    "token",
    "wait_for_port",
]
