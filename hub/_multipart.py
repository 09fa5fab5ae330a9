"""Streaming multipart/form-data: the `file` part goes to a sink as it arrives (never spooled
to a temporary file outside the hub's workspace), other parts are small text fields."""

from __future__ import annotations

import asyncio
from typing import Any, Protocol
from collections.abc import Callable

from python_multipart import MultipartParser
from python_multipart.multipart import parse_options_header
from starlette.requests import ClientDisconnect, Request

from ._errors import BadRequestError, TooLargeError

MAX_FIELD = 1 << 20


class Sink(Protocol):
    def write(self, data: bytes) -> None: ...
    def finish(self) -> None: ...
    def abort(self, exc: BaseException) -> None: ...


async def stream_form(request: Request, open_sink: Callable[[str], Sink], max_size: int,
                      file_field: str = "file") -> tuple[dict[str, str], str]:
    """Parse the request body; returns (text fields, uploaded file name). `open_sink(filename)`
    is called once, when the file part's headers are complete (it may refuse with HubError)."""
    ctype, params = parse_options_header(request.headers.get("content-type", ""))
    if ctype != b"multipart/form-data" or b"boundary" not in params:
        raise BadRequestError("expected a multipart/form-data body with a 'file' part")
    state: dict[str, Any] = {"headers": {}, "field": b"", "value": b"", "name": None, "filename": None,
                             "is_file": False, "buffer": [], "pending": [], "ended": False}
    fields: dict[str, str] = {}
    sink: Sink | None = None
    filename = ""

    def on_part_begin() -> None:
        state.update(headers={}, name=None, filename=None, is_file=False, buffer=[])

    def on_header_field(data: bytes, start: int, end: int) -> None:
        state["field"] += data[start:end]

    def on_header_value(data: bytes, start: int, end: int) -> None:
        state["value"] += data[start:end]

    def on_header_end() -> None:
        state["headers"][state["field"].lower()] = state["value"]
        state["field"], state["value"] = b"", b""

    def on_headers_finished() -> None:
        nonlocal sink, filename
        _, disp = parse_options_header(state["headers"].get(b"content-disposition", b""))
        name = disp.get(b"name", b"").decode(errors="replace")
        state["name"] = name
        if name == file_field and b"filename" in disp:
            if sink is not None:
                raise BadRequestError(f"more than one '{file_field}' part")
            filename = disp[b"filename"].decode(errors="replace")
            sink = open_sink(filename)
            state["is_file"] = True

    def on_part_data(data: bytes, start: int, end: int) -> None:
        if state["is_file"]:  # kept apart from `buffer`: a next part may begin in the same write
            state["pending"].append(bytes(data[start:end]))
            return
        state["buffer"].append(bytes(data[start:end]))
        if sum(map(len, state["buffer"])) > MAX_FIELD:
            raise TooLargeError(f"form field '{state['name']}' is larger than {MAX_FIELD} bytes")

    def on_part_end() -> None:
        if state["is_file"]:
            state["ended"] = True
        elif state["name"]:
            fields[state["name"]] = b"".join(state["buffer"]).decode(errors="replace")
            state["buffer"] = []

    parser = MultipartParser(params[b"boundary"], callbacks={  # type: ignore[arg-type]
        "on_part_begin": on_part_begin, "on_header_field": on_header_field,
        "on_header_value": on_header_value, "on_header_end": on_header_end,
        "on_headers_finished": on_headers_finished, "on_part_data": on_part_data, "on_part_end": on_part_end})
    total = 0
    finished = False
    try:
        async for chunk in request.stream():
            total += len(chunk)
            if total > max_size:
                raise TooLargeError(f"upload is larger than the limit of {max_size} bytes")
            parser.write(chunk)
            if state["pending"]:
                data = b"".join(state["pending"])
                state["pending"] = []
                assert sink is not None
                await asyncio.to_thread(sink.write, data)
            if state["ended"] and not finished:
                finished = True
                assert sink is not None
                await asyncio.to_thread(sink.finish)
        parser.finalize()
        if sink is None:
            raise BadRequestError(f"no '{file_field}' part in the upload")
        if not finished:
            raise BadRequestError("the upload ended before the file part was complete")
    except ClientDisconnect as exc:
        if sink is not None and not finished:
            sink.abort(exc)
        raise BadRequestError("the client disconnected during the upload") from None
    except BaseException as exc:
        if sink is not None and not finished:
            sink.abort(exc)
        raise
    return fields, filename
