"""The hub's JSON replies (spec §11.3): one JSON document and a newline."""

from __future__ import annotations

import json
from typing import Any

from fastapi.responses import JSONResponse


class JSONLine(JSONResponse):
    """JSON replies end with a newline (spec §11.3)."""

    def render(self, content: Any) -> bytes:
        return json.dumps(content).encode() + b"\n"


def success(payload: Any = None) -> JSONLine:
    """`{"status": "success", "payload": ...}`, the envelope of every authenticated call."""
    body: dict[str, Any] = {"status": "success"}
    if payload is not None:
        body["payload"] = payload
    return JSONLine(body)
