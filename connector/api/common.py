"""Turning responses of the archive's APIs into values or into the user's error messages.

The services answer errors with ``{"exception_id", "description", "data"}``; the
description is meant for people, so it goes into the message, cut to a sane length.
"""

from __future__ import annotations

from typing import Any

import httpx

from connector.errors import NotAuthorized, ServiceError, Unreachable
from connector.http import RETRY_STATUSES

MAX_DESCRIPTION = 300


def error_details(response: httpx.Response) -> tuple[str | None, str | None]:
    """(exception_id, description) of an error response, if its body has them."""
    try:
        body = response.json()
    except ValueError:
        return None, None
    if not isinstance(body, dict):
        return None, None
    exception_id = body.get("exception_id")
    description = body.get("description") or body.get("detail")
    return (
        exception_id if isinstance(exception_id, str) else None,
        description[:MAX_DESCRIPTION] if isinstance(description, str) else None,
    )


def check_status(response: httpx.Response, service: str, *expected: int) -> None:
    """Raise the fitting ConnectorError unless the status is one of ``expected``."""
    status = response.status_code
    if status in expected:
        return
    exception_id, description = error_details(response)
    detail = description or f"HTTP {status}"
    if status in (401, 403):
        raise NotAuthorized(f"{service} refused access: {detail}")
    if status in RETRY_STATUSES:
        raise Unreachable(f"{service} kept failing (HTTP {status}, {detail}); try again later.")
    raise ServiceError(f"{service} answered HTTP {status}: {detail}", status, exception_id)


def json_body(response: httpx.Response, service: str) -> Any:
    try:
        return response.json()
    except ValueError:
        raise ServiceError(
            f"{service} answered HTTP {response.status_code} with a body that is not JSON.",
            response.status_code,
        ) from None


def unexpected(service: str, what: str) -> ServiceError:
    return ServiceError(f"{service} sent an unexpected answer: {what}.")
