"""A local runtime for the Chalice functions: what API Gateway, SQS and EventBridge do on AWS.

- HTTP: one server, every function's routes under ``/<function>/``, each
  request turned into the API Gateway proxy event that Chalice expects.
- SQS: one poller per declared queue, delivering each message to the
  consuming handler in the Lambda SQS event shape; a message is deleted only
  when the handler returns, so a failure is redelivered (with a short
  back-off here) and lands in the dead-letter queue after ``maxReceiveCount``.
- Schedules: each scheduled handler runs every ``rate`` (scaled for tests)
  and can be triggered at once with ``POST /_runtime/schedules/<fn>/<handler>``.
- Consumers can be paused and resumed (``POST /_runtime/consumers/<fn>/pause|resume``),
  as disabling an event source mapping does on AWS: messages wait in their queue. A pause
  answers once no handler of the function runs any more, and from then on none starts (a
  message a long poll brings in after the pause goes back to the queue at once), so that a
  test can rely on what is still waiting.
"""

from __future__ import annotations

import base64
import importlib
import json
import logging
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from chalice.local import LambdaEventConverter, RouteMatcher

from shared.logs import current_function
from shared.resources import DECLARATION, Declaration, queue_name

log = logging.getLogger("fs.runtime")


class LambdaContext:
    """The parts of the Lambda context object our handlers use."""

    def __init__(self, function_name: str, timeout_s: float, memory_mb: int) -> None:
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.memory_limit_in_mb = memory_mb
        self.aws_request_id = str(uuid.uuid4())
        self.invoked_function_arn = f"arn:aws:lambda:local:000000000000:function:{function_name}"
        self._deadline = time.monotonic() + timeout_s

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


@dataclass
class QueueBinding:
    function: str
    queue_url: str
    queue_arn: str
    handler: Any
    # held while a message is checked against the pause and delivered: a pause waits for it
    delivering: threading.Lock = field(default_factory=threading.Lock)


def load_app(function: str) -> Any:
    """Import ``functions.<function>.app`` and return its Chalice app."""
    return importlib.import_module(f"functions.{function}.app").app


class LocalRuntime:
    def __init__(
        self,
        *,
        host: str,
        port: int,
        sqs_client: Any,
        declaration: Declaration = DECLARATION,
        schedule_scale: float = 1.0,
    ) -> None:
        self.host = host
        self.port = port
        self.declaration = declaration
        self._sqs = sqs_client
        self._schedule_scale = schedule_scale
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.apps: dict[str, Any] = {}
        self._converters: dict[str, LambdaEventConverter] = {}
        self._server: ThreadingHTTPServer | None = None
        self.paused: set[str] = set()  # functions whose queues are not being consumed
        self._bindings: list[QueueBinding] = []

    # ------------------------------------------------------------ set-up

    def load(self) -> None:
        for function in self.declaration.functions:
            app = load_app(function.name)
            self.apps[function.name] = app
            if function.http:
                self._converters[function.name] = LambdaEventConverter(
                    RouteMatcher(list(app.routes)), app.api.binary_types
                )

    def start(self) -> None:
        if not self.apps:
            self.load()
        self._server = ThreadingHTTPServer((self.host, self.port), self._request_handler())
        self._server.daemon_threads = True
        self._spawn(self._server.serve_forever, "http")
        for queue in self.declaration.queues:
            binding = self._bind_queue(queue.consumer, queue.handler, queue_name(queue.key))
            self._spawn(lambda b=binding: self._poll(b), f"sqs-{queue.key}")
        for schedule in self.declaration.schedules:
            self._spawn(
                lambda s=schedule: self._every(s.function, s.handler, s.rate_minutes * 60),
                f"schedule-{schedule.function}-{schedule.handler}",
            )

    def stop(self) -> None:
        self._stop.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        for thread in self._threads:
            thread.join(timeout=10)

    def _spawn(self, target: Any, name: str) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def _bind_queue(self, function: str, handler: str, name: str) -> QueueBinding:
        app = self.apps[function]
        if handler not in app.handler_map:
            raise RuntimeError(f"{function} has no handler {handler} for queue {name}")
        url = self._sqs.get_queue_url(QueueName=name)["QueueUrl"]
        arn = self._sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        binding = QueueBinding(function, url, arn, app.handler_map[handler])
        self._bindings.append(binding)
        return binding

    def context(self, function: str) -> LambdaContext:
        """A fresh Lambda context; also names the function in this thread's log lines."""
        current_function.set(function)
        spec = self.declaration.function(function)
        return LambdaContext(function, spec.timeout_s, spec.memory_mb)

    # ------------------------------------------------------------ SQS

    def _poll(self, binding: QueueBinding) -> None:
        while not self._stop.is_set():
            if binding.function in self.paused:
                self._stop.wait(0.2)
                continue
            try:
                response = self._sqs.receive_message(
                    QueueUrl=binding.queue_url,
                    MaxNumberOfMessages=1,
                    WaitTimeSeconds=1,
                    AttributeNames=["All"],
                    MessageAttributeNames=["All"],
                )
            except Exception:
                if self._stop.is_set():
                    return
                log.warning("queue poll failed", extra={"queue_url": binding.queue_url})
                time.sleep(1)
                continue
            for message in response.get("Messages", []):
                with binding.delivering:
                    if binding.function in self.paused:
                        self._put_back(binding, message)
                    else:
                        self._deliver(binding, message)

    def _put_back(self, binding: QueueBinding, message: dict[str, Any]) -> None:
        """A message received after its consumer was paused: visible again at once."""
        try:
            self._sqs.change_message_visibility(
                QueueUrl=binding.queue_url,
                ReceiptHandle=message["ReceiptHandle"],
                VisibilityTimeout=0,
            )
        except Exception:
            log.warning("could not put a message back", extra={"queue_url": binding.queue_url})

    def pause(self, function: str) -> None:
        """Stop consuming the function's queues; returns once no handler of it runs."""
        self.paused.add(function)
        for binding in self._bindings:
            if binding.function == function:
                with binding.delivering:
                    pass

    def _deliver(self, binding: QueueBinding, message: dict[str, Any]) -> None:
        record = {
            "messageId": message["MessageId"],
            "receiptHandle": message["ReceiptHandle"],
            "body": message["Body"],
            "attributes": message.get("Attributes", {}),
            "messageAttributes": message.get("MessageAttributes", {}),
            "md5OfBody": message.get("MD5OfBody", ""),
            "eventSource": "aws:sqs",
            "eventSourceARN": binding.queue_arn,
            "awsRegion": binding.queue_arn.split(":")[3],
        }
        try:
            binding.handler({"Records": [record]}, self.context(binding.function))
        except Exception:
            receives = int(message.get("Attributes", {}).get("ApproximateReceiveCount", "1"))
            log.exception(
                "handler failed; message will be redelivered",
                extra={"function": binding.function, "receive_count": receives},
            )
            backoff = min(30, 2**receives)
            try:
                self._sqs.change_message_visibility(
                    QueueUrl=binding.queue_url,
                    ReceiptHandle=message["ReceiptHandle"],
                    VisibilityTimeout=backoff,
                )
            except Exception:
                log.warning("could not shorten visibility timeout")
            return
        self._sqs.delete_message(QueueUrl=binding.queue_url, ReceiptHandle=message["ReceiptHandle"])

    # ------------------------------------------------------------ schedules

    def run_scheduled(self, function: str, handler: str) -> Any:
        event = {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": "Scheduled Event",
            "source": "aws.events",
            "account": "000000000000",
            "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "region": "local",
            "resources": [f"arn:aws:events:local:000000000000:rule/{function}-{handler}"],
            "detail": {},
        }
        return self.apps[function].handler_map[handler](event, self.context(function))

    def _every(self, function: str, handler: str, seconds: float) -> None:
        period = max(1.0, seconds * self._schedule_scale)
        while not self._stop.wait(period):
            try:
                self.run_scheduled(function, handler)
            except Exception:
                log.exception("scheduled handler failed", extra={"function": function})

    # ------------------------------------------------------------ HTTP

    def handle_http(
        self, method: str, path: str, headers: dict[str, str], body: bytes | None
    ) -> tuple[int, dict[str, str], bytes]:
        function, _, rest = path.lstrip("/").partition("/")
        rest = "/" + rest
        if function == "_runtime":
            return self._control(method, rest)
        converter = self._converters.get(function)
        if converter is None:
            return _json_error(404, "notFound", f"No API is served under /{function}.")
        try:
            event = converter.create_lambda_event(method, rest, headers, body)
        except ValueError:
            return _json_error(404, "notFound", "No such resource.")
        app = self.apps[function]
        if method not in app.routes[event["requestContext"]["resourcePath"]]:
            return _json_error(405, "methodNotAllowed", f"{method} is not allowed here.")
        event["multiValueHeaders"] = {}
        event["queryStringParameters"] = (
            {k: v[-1] for k, v in event["multiValueQueryStringParameters"].items()}
            if event["multiValueQueryStringParameters"]
            else None
        )
        response = app(event, self.context(function))
        payload = response.get("body") or b""
        if response.get("isBase64Encoded"):
            payload = base64.b64decode(payload)
        elif isinstance(payload, str):
            payload = payload.encode()
        out_headers = dict(response.get("headers") or {})
        for name, values in (response.get("multiValueHeaders") or {}).items():
            out_headers[name] = ", ".join(values)
        return response["statusCode"], out_headers, payload

    def _control(self, method: str, rest: str) -> tuple[int, dict[str, str], bytes]:
        parts = rest.strip("/").split("/")
        if method == "POST" and len(parts) == 3 and parts[0] == "consumers":
            function, action = parts[1], parts[2]
            if function not in self.apps or action not in ("pause", "resume"):
                return _json_error(404, "notFound", "No such consumer or action.")
            if action == "pause":
                self.pause(function)
            else:
                self.paused.discard(function)
            body = {"function": function, "paused": function in self.paused}
            return 200, {"Content-Type": "application/json"}, json.dumps(body).encode()
        if method == "POST" and len(parts) == 3 and parts[0] == "schedules":
            function, handler = parts[1], parts[2]
            if function not in self.apps or handler not in self.apps[function].handler_map:
                return _json_error(404, "notFound", "No such scheduled handler.")
            result = self.run_scheduled(function, handler)
            return 200, {"Content-Type": "application/json"}, json.dumps(result).encode()
        return _json_error(404, "notFound", "No such runtime control.")

    def _request_handler(self) -> type[BaseHTTPRequestHandler]:
        runtime = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # headers and body go out in separate writes: without this, Nagle's algorithm
            # holds the body back ~40 ms on every reused connection
            disable_nagle_algorithm = True

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                try:
                    status, headers, payload = runtime.handle_http(
                        self.command, self.path, dict(self.headers.items()), body
                    )
                except Exception:
                    log.exception("runtime failed to serve a request")
                    status, headers, payload = _json_error(
                        500, "internalError", "The local runtime failed."
                    )
                self.send_response(status)
                declared = None
                for name, value in headers.items():
                    if name.lower() == "content-length":
                        declared = value
                    elif name.lower() != "connection":
                        self.send_header(name, value)
                # a HEAD answer has no body but may say how long the GET body would be
                head = self.command == "HEAD" and declared is not None and not payload
                self.send_header("Content-Length", declared if head else str(len(payload)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _serve

            def log_message(self, format: str, *args: Any) -> None:
                return

        return Handler


def _json_error(status: int, exception_id: str, description: str) -> tuple[int, dict, bytes]:
    body = {"exception_id": exception_id, "description": description, "data": {}}
    return status, {"Content-Type": "application/json"}, json.dumps(body).encode()
