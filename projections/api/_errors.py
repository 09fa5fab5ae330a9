"""The API's error body and the handlers that put every failure into it.

Body: `{"error": "<message>", "code": "<machine string>", "details": ...}` (upstream kept
only `error`; `code` and `details` are ours).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from zos.bus import BusError

_CODES = {400: "invalid", 401: "unauthorized", 404: "not_found", 405: "method_not_allowed",
          409: "conflict", 500: "node_error", 501: "not_implemented", 503: "unavailable",
          504: "timeout"}


class ApiError(Exception):
    def __init__(self, status: int, message: str, code: str | None = None,
                 details: Any = None, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code or _CODES.get(status, "error")
        self.details = details
        self.headers = headers


def error_response(status: int, message: str, code: str | None = None, details: Any = None,
                   headers: dict[str, str] | None = None) -> JSONResponse:
    body: dict[str, Any] = {"error": message, "code": code or _CODES.get(status, "error")}
    if details is not None:
        body["details"] = details
    return JSONResponse(body, status_code=status, headers=headers)


def _field(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or str(loc[0] if loc else "body")


def install(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(_request: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, exc.message, exc.code, exc.details, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        first = errors[0] if errors else {"loc": ("body",), "msg": "invalid request"}
        field = _field(tuple(first.get("loc", ())))
        details = [{"field": _field(tuple(e.get("loc", ()))), "message": e.get("msg", "")}
                   for e in errors]
        return error_response(400, f"field '{field}': {first.get('msg', 'invalid')}",
                              details=details)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return error_response(exc.status_code, str(exc.detail), headers=exc.headers)

    @app.exception_handler(BusError)
    async def bus_down(_request: Request, exc: BusError) -> JSONResponse:
        return error_response(503, f"event bus: {exc}")
