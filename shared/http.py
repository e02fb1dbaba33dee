"""The thin HTTP layer every Chalice app shares.

``ServiceApp`` registers routes whose handlers may raise ``ServiceError``;
anything they raise becomes the GHGA-style JSON error body, never a
traceback. It also answers ``GET /health`` and parses JSON bodies into
pydantic models with a 422 that names the bad fields.

The one translation point is ``ThreadSafeChalice.__call__``: whatever Chalice answers by
itself before or around a handler (415 for a content type a route does not take, 405, its
400 for a binary answer the request did not accept, its 500) leaves in the GHGA error body
too, so every non-success answer of every service has ``exception_id``.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from chalice import Chalice, IAMAuthorizer, Response
from pydantic import BaseModel, ValidationError

from shared.errors import BadRequest, ServiceError, Unauthorized, Unprocessable
from shared.tokens import bearer, matches_hash

ModelT = TypeVar("ModelT", bound=BaseModel)
log = logging.getLogger("fs.http")


def error_response(error: ServiceError, headers: dict[str, str] | None = None) -> Response:
    return Response(
        body=error.body(),
        status_code=error.status,
        headers={"Content-Type": "application/json", **(headers or {})},
    )


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        body=json.dumps(body),
        status_code=status,
        headers={"Content-Type": "application/json", **(headers or {})},
    )


def empty_response(status: int = 204, headers: dict[str, str] | None = None) -> Response:
    return Response(body="", status_code=status, headers=headers or {})


class _PerThread:
    """An attribute with one value per thread (a data descriptor beats the instance dict)."""

    def __init__(self, name: str) -> None:
        self._name = name

    def __get__(self, obj: Any, owner: Any = None) -> Any:
        return self if obj is None else getattr(obj._per_thread, self._name, None)

    def __set__(self, obj: Any, value: Any) -> None:
        setattr(obj._per_thread, self._name, value)


class ThreadSafeChalice(Chalice):
    """Chalice keeps the current request on the app object.

    That is right on Lambda (one request per process at a time) and wrong in the
    embedded runtime, which serves requests in threads: a handler could read the body
    and token of a concurrent request. Here each thread sees its own request.
    """

    current_request = _PerThread("current_request")  # type: ignore[assignment]
    lambda_context = _PerThread("lambda_context")  # type: ignore[assignment]

    def __init__(self, app_name: str) -> None:
        self._per_thread = threading.local()
        # Chalice's own logger would print tracebacks to stdout past our JSON formatter
        super().__init__(app_name=app_name, configure_logs=False)

    def __call__(self, event: Any, context: Any) -> dict[str, Any]:
        """Chalice's REST entry point, with its own error answers made GHGA-shaped."""
        try:
            answer = super().__call__(event, context)
        except Exception:
            log.exception("unhandled error before the handler", extra={"app": self.app_name})
            return _internal_error_answer()
        return ghga_shaped(answer)


def _internal_error_answer() -> dict[str, Any]:
    body = ServiceError("An internal error occurred; it has been logged.").body()
    return {
        "statusCode": 500,
        "headers": {"Content-Type": "application/json"},
        "multiValueHeaders": {},
        "body": json.dumps(body),
    }


def _exception_id(code: str) -> str:
    """Chalice's ``Code`` (``UnsupportedMediaType``, ``MethodNotAllowedError``) as one of
    our camel-case ids (``unsupportedMediaType``, ``methodNotAllowed``)."""
    code = re.sub(r"Error$", "", code) or "internal"
    return code[0].lower() + code[1:]


def ghga_shaped(answer: dict[str, Any]) -> dict[str, Any]:
    """A Lambda proxy answer whose error body is Chalice's ``{Code, Message}`` (or not JSON
    at all) rewritten as ``{exception_id, description, data}``; other answers unchanged."""
    status = int(answer.get("statusCode") or 500)
    if status < 400:
        return answer
    raw = answer.get("body") or ""
    try:
        text = base64.b64decode(raw) if answer.get("isBase64Encoded") else raw
        body = json.loads(text or "null")
    except (ValueError, TypeError):
        body = None
    if isinstance(body, dict) and {"exception_id", "description", "data"} <= set(body):
        return answer
    if status >= 500:  # whatever Chalice called it: the one id of ours, and no detail
        exception_id, description = "internalError", "An internal error occurred."
    elif isinstance(body, dict) and isinstance(body.get("Code"), str):
        exception_id, description = _exception_id(body["Code"]), str(body.get("Message", ""))
    else:
        exception_id, description = "badRequest", "The request was refused."
    headers = {
        k: v
        for k, v in (answer.get("headers") or {}).items()
        if k.lower() not in ("content-type", "content-length")
    }
    return {
        **answer,
        "isBase64Encoded": False,
        "headers": {**headers, "Content-Type": "application/json"},
        "body": json.dumps({"exception_id": exception_id, "description": description, "data": {}}),
    }


class ServiceApp:
    """A Chalice app plus the error translation and helpers of this project."""

    def __init__(self, name: str, *, iam_only: bool = False) -> None:
        """``iam_only``: every route (``/health`` too) takes API Gateway's AWS_IAM
        authorization on AWS, so only a SigV4-signed request of a principal allowed
        ``execute-api:Invoke`` on the API reaches the function (infra/iam.py). The
        embedded runtime and Chalice's test client do not check it."""
        self.name = name
        self.iam_only = iam_only
        self._authorizer = IAMAuthorizer() if iam_only else None
        self.chalice = ThreadSafeChalice(app_name=name)
        self.chalice.api.binary_types = ["application/octet-stream"]
        self.route("/health", methods=["GET"])(lambda: {"status": "OK"})

    @property
    def request(self) -> Any:
        return self.chalice.current_request

    def route(self, path: str, **kwargs: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        def register(handler: Callable[..., Any]) -> Callable[..., Any]:
            def view(**params: Any) -> Any:
                try:
                    result = handler(**params)
                except ServiceError as error:
                    log.info(
                        "request refused",
                        extra={
                            "path": self.request.path if self.request else path,
                            "status": error.status,
                            "exception_id": error.exception_id,
                        },
                    )
                    return error_response(error)
                except Exception:
                    log.exception("unhandled error", extra={"route": path})
                    return error_response(
                        ServiceError("An internal error occurred; it has been logged.")
                    )
                if isinstance(result, Response):
                    return result
                return json_response(result)

            view.__name__ = handler.__name__
            view.__doc__ = handler.__doc__
            if self._authorizer is not None:
                kwargs.setdefault("authorizer", self._authorizer)
            self.chalice.route(path, **kwargs)(view)
            return handler

        return register

    # --- request helpers -------------------------------------------------

    def headers(self) -> dict[str, str]:
        return {k.lower(): v for k, v in dict(self.request.headers).items()}

    def bearer_token(self) -> str | None:
        return bearer(self.headers())

    def query(self) -> dict[str, str]:
        return dict(self.request.query_params or {})

    def body(self, model: type[ModelT]) -> ModelT:
        return parse_body(self.request.raw_body, model)

    def require_operator(self, operator_token_sha256: str) -> None:
        """Operator routes: a bearer token whose sha256 matches the configured one."""
        if not matches_hash(self.bearer_token(), operator_token_sha256):
            raise Unauthorized(
                "This operation needs a valid operator token.", exception_id="notAuthorized"
            )


# No body of ours nests deeper than a few levels; a deeper one is refused before
# validation walks it (json.loads itself stops at Python's recursion limit, ~1000).
MAX_JSON_DEPTH = 32
# What a 422 repeats of the request: field names are the caller's own keys for extra fields
_MAX_PROBLEMS, _MAX_FIELD = 20, 80


def json_depth_exceeds(data: Any, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether ``data`` (parsed JSON) nests deeper than ``limit``; iterative, so a hostile
    body cannot exhaust the stack here."""
    stack: list[tuple[Any, int]] = [(data, 0)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return True
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)
    return False


def parse_body(raw: bytes | None, model: type[ModelT]) -> ModelT:
    try:
        data = json.loads(raw or b"null")
    except (ValueError, RecursionError) as error:
        # ValueError: bad JSON, bad UTF-8, or an integer past Python's digit limit
        raise BadRequest("The request body is not valid JSON.", exception_id="badJson") from error
    if json_depth_exceeds(data):
        raise BadRequest(
            f"The request body nests deeper than {MAX_JSON_DEPTH} levels.", exception_id="badJson"
        )
    if data is None:
        data = {}
    return validate(data, model)


def validate(data: Any, model: type[ModelT]) -> ModelT:
    try:
        return model.model_validate(data)
    except ValidationError as error:
        problems = [
            {
                "field": ".".join(str(p) for p in issue["loc"])[:_MAX_FIELD],
                "problem": issue["msg"],
            }
            for issue in error.errors(include_url=False, include_input=False)[:_MAX_PROBLEMS]
        ]
        raise Unprocessable(
            "The request is invalid: "
            + "; ".join(f"{p['field'] or 'body'}: {p['problem']}" for p in problems),
            exception_id="validationError",
            data={"errors": problems},
        ) from error
