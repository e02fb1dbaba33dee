"""Errors that carry their own HTTP status and exception_id.

Cores raise these; the thin HTTP layer turns them into the GHGA-style body
``{"exception_id": ..., "description": ..., "data": {...}}``. Descriptions must
never contain a token, key or secret: they are shown to users and logged.
"""

from __future__ import annotations

from typing import Any


class ServiceError(Exception):
    """An error with a stable machine-readable id and an HTTP status."""

    status: int = 500
    exception_id: str = "internalError"

    def __init__(
        self,
        description: str,
        *,
        exception_id: str | None = None,
        status: int | None = None,
        data: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(description)
        self.description = description
        if exception_id is not None:
            self.exception_id = exception_id
        if status is not None:
            self.status = status
        self.data = data or {}

    def body(self) -> dict[str, Any]:
        return {
            "exception_id": self.exception_id,
            "description": self.description,
            "data": self.data,
        }


class BadRequest(ServiceError):
    status = 400
    exception_id = "badRequest"


class Unauthorized(ServiceError):
    status = 401
    exception_id = "notAuthorized"


class Forbidden(ServiceError):
    status = 403
    exception_id = "forbidden"


class NotFound(ServiceError):
    status = 404
    exception_id = "notFound"


class Conflict(ServiceError):
    status = 409
    exception_id = "conflict"


class Unprocessable(ServiceError):
    status = 422
    exception_id = "validationError"


class TooManyRequests(ServiceError):
    status = 429
    exception_id = "tooManyRequests"


class Unavailable(ServiceError):
    status = 503
    exception_id = "serviceUnavailable"
