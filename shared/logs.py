"""Structured JSON logging that never prints a token, key or secret.

Two guards: extra fields whose names look sensitive are replaced with
``[redacted]``, and the rendered message is scrubbed of anything shaped like
a JWT, a bearer credential, a PEM block or a long base64 blob (keys, secrets,
sealed tokens are all such blobs).
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
from contextvars import ContextVar
from typing import Any

REDACTED = "[redacted]"

# Which function is running: on Lambda one per process, in the embedded runtime
# several share a process, so the runtime names the function per invocation.
current_function: ContextVar[str | None] = ContextVar("current_function", default=None)

_SENSITIVE_NAME = re.compile(r"token|secret|key|password|passphrase|authorization|credential", re.I)
# names that contain a sensitive word but only ever hold ids, counts or object names
_SAFE_NAME = re.compile(r"(_id|_ids|_count|_size|object_key|_key_id)$", re.I)
_SCRUBBERS = [
    re.compile(r"-----BEGIN [A-Z ]+-----.*?-----END [A-Z ]+-----", re.S),
    re.compile(r"\beyJ[\w-]+\.[\w-]+\.[\w-]*"),  # JWT
    re.compile(r"(?i)\bbearer\s+\S+"),
    re.compile(r"[A-Za-z0-9+/_-]{32,}={0,2}"),  # long base64 / urlsafe blobs
]
_UUID_ANYWHERE = re.compile(r"[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}")
_HEX = re.compile(r"[0-9a-f]{32}|[0-9a-f]{64}")
_STANDARD_ATTRS = set(vars(logging.makeLogRecord({})).keys()) | {"message", "asctime"}
# ids we log on purpose look like UUIDs (36 chars with dashes) and are kept
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def _redact_blob(match: re.Match[str]) -> str:
    blob = match.group(0)
    # ids we log on purpose (UUIDs, hex digests of public data) are kept
    if _UUID_ANYWHERE.fullmatch(blob) or _HEX.fullmatch(blob):
        return blob
    return REDACTED


def scrub(text: str) -> str:
    """Remove anything that looks like a credential from free text."""
    for pattern in _SCRUBBERS[:-1]:
        text = pattern.sub(REDACTED, text)
    return _SCRUBBERS[-1].sub(_redact_blob, text)


def _clean(name: str, value: Any) -> Any:
    if _SENSITIVE_NAME.search(name) and not _SAFE_NAME.search(name):
        return REDACTED
    if isinstance(value, str):
        return value if _UUID.match(value) else scrub(value)
    if isinstance(value, dict):
        return {k: _clean(str(k), v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(name, v) for v in value]
    if isinstance(value, int | float | bool) or value is None:
        return value
    return scrub(str(value))


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message and extra fields."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "service": current_function.get() or self.service,
            "logger": record.name,
            "message": scrub(record.getMessage()),
        }
        for name, value in record.__dict__.items():
            if name not in _STANDARD_ATTRS and not name.startswith("_"):
                entry[name] = _clean(name, value)
        if record.exc_info:
            # exception type only: messages and tracebacks may quote inputs
            entry["exception"] = record.exc_info[0].__name__ if record.exc_info[0] else None
        return json.dumps(entry, default=str)


def configure_logging(service: str, level: str = "INFO", stream: Any = None) -> None:
    """Install the JSON formatter on the root logger (idempotent)."""
    root = logging.getLogger()
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter(service))
    handler.set_name("fs-json")
    root.handlers = [h for h in root.handlers if h.get_name() != "fs-json"]
    root.addHandler(handler)
    root.setLevel(level)
    # crypt4gh logs keys as hex at DEBUG, httpx and httpcore request lines: never let them
    # speak below WARNING
    noisy_loggers = ("botocore", "boto3", "urllib3", "hvac", "pynamodb", "s3transfer")
    for noisy in (*noisy_loggers, "crypt4gh", "httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
