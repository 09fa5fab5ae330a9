"""The backbone adapter: NATS JetStream streams, append with dedup and OCC, replay, consumers.

Everything that touches NATS goes through here; callers never import `nats`, never reach
for the connection, and take header names from here. `MemoryBus` has the same verbs without a
server, for unit tests of domain logic. `call` / `wait_result` are the one way to wait for a
job's result.

    bus = await connect("nats://127.0.0.1:4222", actor="cli")
    seq = await bus.append(new_event("node.booted", "node", "n1", {"node": "n1"}))
    async for item in bus.replay("zos.evt.node.*"):
        print(item.seq, item.event.type)
"""

from ._broker import EmbeddedBroker, die_with_parent, free_port, nats_server_binary, wait_for_port
from ._bus import Bus, BusConfig, Delivered, Handler, connect, jsonable
from ._errors import BrokerError, BusError, BusUnavailable, ConcurrencyError, ResultTimeout
from ._headers import (DLQ_REASON_HEADER, DLQ_SEQ_HEADER, DLQ_SUBJECT_HEADER, EXPECTED_SEQ_HEADER,
                       MSG_ID_HEADER, REDIS_KEY_HEADER, TRIM_HEADER, TYPE_HEADER)
from ._memory import MemoryBus
from ._results import Finished, call, send_and_wait, wait_finished, wait_result
from ._times import parse_time
from ._streams import STREAM_NAMES, STREAMS, StreamSpec, ensure_streams, stream_for_subject
from ._subjects import (aggregate_filter, command_subject, dlq_subject, event_subject,
                        io_subject, log_subject, node_commands_filter, node_logs_filter, subject_matches,
                        tlog_subject, token)

__all__ = [
    "BrokerError",
    "Bus",
    "BusConfig",
    "BusError",
    "BusUnavailable",
    "ConcurrencyError",
    "DLQ_REASON_HEADER",
    "DLQ_SEQ_HEADER",
    "DLQ_SUBJECT_HEADER",
    "Delivered",
    "EXPECTED_SEQ_HEADER",
    "EmbeddedBroker",
    "Finished",
    "Handler",
    "MSG_ID_HEADER",
    "MemoryBus",
    "REDIS_KEY_HEADER",
    "ResultTimeout",
    "STREAMS",
    "STREAM_NAMES",
    "StreamSpec",
    "TRIM_HEADER",
    "TYPE_HEADER",
    "aggregate_filter",
    "call",
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
    "send_and_wait",
    "stream_for_subject",
    "subject_matches",
    "tlog_subject",
    "token",
    "wait_finished",
    "wait_for_port",
    "wait_result",
]
