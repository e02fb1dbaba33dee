"""The thin HTTP layer every Chalice app shares.

``ServiceApp`` registers routes whose handlers may raise ``ServiceError``;
anything they raise becomes the GHGA-style JSON error body, never a
traceback. It also answers ``GET /health`` and parses JSON bodies into
pydantic models with a 422 that names the bad fields.
"""

from __future__ import annotations

import json
import logging
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
        super().__init__(app_name=app_name)


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


def parse_body(raw: bytes | None, model: type[ModelT]) -> ModelT:
    try:
        data = json.loads(raw or b"null")
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise BadRequest("The request body is not valid JSON.", exception_id="badJson") from error
    if data is None:
        data = {}
    return validate(data, model)


def validate(data: Any, model: type[ModelT]) -> ModelT:
    try:
        return model.model_validate(data)
    except ValidationError as error:
        problems = [
            {"field": ".".join(str(p) for p in issue["loc"]), "problem": issue["msg"]}
            for issue in error.errors()
        ]
        raise Unprocessable(
            "The request is invalid: "
            + "; ".join(f"{p['field'] or 'body'}: {p['problem']}" for p in problems),
            exception_id="validationError",
            data={"errors": problems},
        ) from error
