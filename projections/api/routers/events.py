"""`/events`: a page of the log with the filters of `zos events replay`, or a server-sent
event stream that follows it (`Accept: text/event-stream`; resumes after `Last-Event-ID`)."""

from __future__ import annotations

import json
import re
from typing import Any
from collections.abc import AsyncIterator

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse

from zos.bus import aggregate_filter, parse_time

from .._context import context
from .._context import ApiContext
from .._errors import ApiError
from .._schemas import ERRORS, EventPage

router = APIRouter(tags=["events"], responses=ERRORS)
_SUBJECT = re.compile(r"^zos(\.([A-Za-z0-9_-]+|\*))*(\.>)?$")


def _subject(subject: str | None, aggregate: str | None) -> str:
    if subject and aggregate:
        raise ApiError(400, "give 'subject' or 'aggregate', not both")
    if aggregate:
        return aggregate_filter(aggregate)
    subject = subject or "zos.evt.>"
    if not _SUBJECT.match(subject) or subject.count(".") < 2 or \
            subject.split(".")[1] not in ("evt", "cmd", "log", "io", "tlog", "dlq"):
        raise ApiError(400, f"field 'subject': '{subject}' is not a zos subject filter "
                            "(e.g. zos.evt.>, zos.evt.node.*, zos.cmd.>)")
    return subject


def _time(name: str, text: str | None) -> Any:
    if not text:
        return None
    try:
        return parse_time(text)
    except ValueError as exc:
        raise ApiError(400, f"field '{name}': {exc}") from None


@router.get("/events", response_model=EventPage, summary="ListEvents")
async def list_events(
        subject: str | None = Query(None, description="subject filter, default zos.evt.>"),
        aggregate: str | None = Query(None, description="only this aggregate kind"),
        type: list[str] = Query([], description="only these event types"),
        from_seq: int | None = Query(None, ge=1, le=2**63 - 1),
        since: str | None = Query(None, description="ISO time or age (10m, 2h)"),
        until: str | None = Query(None, description="ISO time or age"),
        limit: int = Query(100, ge=1, le=1000),
        request: Request = None,  # type: ignore[assignment]  (FastAPI fills it in)
        ctx: ApiContext = Depends(context)) -> Any:
    """A page of events (`next` is the `from_seq` of the following page), or with
    `Accept: text/event-stream` a stream that follows the log (resume with `Last-Event-ID`)."""
    accept = request.headers.get("accept", "")
    last_event_id = request.headers.get("last-event-id")
    filt = _subject(subject, aggregate)
    if from_seq and since:
        raise ApiError(400, "give 'from_seq' or 'since', not both")
    start, until_t = _time("since", since), _time("until", until)
    if "text/event-stream" in accept:
        if last_event_id:
            try:
                from_seq = int(last_event_id) + 1
            except ValueError:
                raise ApiError(400, "header 'Last-Event-ID' must be a sequence number") from None
        return StreamingResponse(_follow(ctx, filt, type, from_seq, start),
                                 media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache"})
    events: list[dict[str, Any]] = []
    following = None
    async for item in ctx.bus.replay(filt, from_seq=from_seq, since=start, until=until_t, types=type):
        if len(events) == limit:
            following = item.seq  # read one more to know where the next page starts
            break
        events.append(item.to_json())
    return {"events": events, "next": following}


async def _follow(ctx: ApiContext, subject: str, types: list[str], from_seq: int | None,
                  since: Any) -> AsyncIterator[bytes]:
    async for item in ctx.bus.replay(subject, from_seq=from_seq, since=since, types=types,
                                     follow=True):
        body = item.to_json()
        kind = body.get("type", "raw")
        yield f"id: {item.seq}\nevent: {kind}\ndata: {json.dumps(body)}\n\n".encode()
