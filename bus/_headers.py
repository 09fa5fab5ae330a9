"""Header names the log uses: every part reads and writes them through these constants."""

TYPE_HEADER = "Zos-Type"                      # the event type (or record kind) of a message
MSG_ID_HEADER = "Nats-Msg-Id"                 # server-side dedup key
EXPECTED_SEQ_HEADER = "Nats-Expected-Last-Subject-Sequence"  # optimistic concurrency per subject
REDIS_KEY_HEADER = "Zos-Redis-Key"            # the bridge list a log record belongs to
TRIM_HEADER = "Zos-Trim"                      # how many records that list keeps
DLQ_SUBJECT_HEADER = "Zos-Dlq-Subject"        # where a parked message came from
DLQ_SEQ_HEADER = "Zos-Dlq-Seq"
DLQ_REASON_HEADER = "Zos-Dlq-Reason"
