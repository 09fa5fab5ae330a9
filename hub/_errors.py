"""Hub errors carry the HTTP status they map to (spec §11.3)."""

from __future__ import annotations


class HubError(Exception):
    """A request the hub refuses; `status` is the HTTP code, the message goes to the client."""

    status = 400

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        if status is not None:
            self.status = status


class BadRequestError(HubError):
    status = 400


class UnauthorizedError(HubError):
    status = 401


class ForbiddenError(HubError):
    status = 403


class NotFoundError(HubError):
    status = 404


class ConflictError(HubError):
    status = 409


class TooLargeError(HubError):
    status = 413


class MissingChunksError(HubError):
    status = 422
