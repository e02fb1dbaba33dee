"""Structured JSON logging that never prints a token, key or secret.

Two guards: extra fields whose names look sensitive are replaced with
``[redacted]``, and the rendered message and every string field are scrubbed of
anything shaped like a secret we issue or handle: a JWT, a bearer credential, a PEM
block, a presigned URL's query and signature parts, a Vault token, hex of 32, 40 or
64 digits (kept only in fields named for a digest), base64 blobs of 32 characters or
more, and shorter random-looking runs of letters and digits (a WPAT has 24). UUIDs,
the ids we log on purpose, are kept.
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
# names of fields that hold digests of public data on purpose (a key's fingerprint, a
# file's checksum, an ETag): their hex is kept; hex anywhere else is treated as a secret
_DIGEST_NAME = re.compile(r"(sha256|md5|fingerprint|etag|digest|checksum)s?$", re.I)

# What is a secret in free text. Every kind the system issues is one of these shapes:
# WPATs and the stack's operator, service and Vault tokens (shared.tokens.random_token: 24
# or 32 alphanumerics), WOTs (ES256 JWTs), sealed WPATs/WOTs, Crypt4GH keys and file
# secrets (base64 of 32 bytes or more), Vault's own tokens (hvs./s. prefixed), AWS and
# SeaweedFS secret keys (40 characters of base64), presigned URLs' signatures (64 hex) and
# their credentials, PEM blocks. tests/unit/test_logs.py logs a real instance of each.
_PEM = re.compile(r"-----BEGIN [A-Z0-9 ]+-----.*?(-----END [A-Z0-9 ]+-----|\Z)", re.S)
_JWT = re.compile(r"\beyJ[\w-]+\.[\w-]+\.[\w-]*")
_BEARER = re.compile(r"(?i:\bbearer)\s+\S+|\bBasic\s+[A-Za-z0-9+/=]{8,}")
# a URL's whole query string when it is a presigned one (SigV4 or SigV2 names)
_PRESIGNED_QUERY = re.compile(
    r"\?(?=[^\s\"'<>]*(?:X-Amz-|Signature=|AWSAccessKeyId=))[^\s\"'<>]*", re.I
)
# signature parts wherever they stand: a query parameter, a header, an Authorization value
_SIGNED_PARAM = re.compile(
    r"(?i)\b(X-Amz-Signature|X-Amz-Credential|X-Amz-Security-Token)(\s*[=:]\s*)[^\s&,;\"']+"
    r"|\b(Signature|Credential|AWSAccessKeyId)(=)[^\s&,;\"']+"
)
_VAULT_TOKEN = re.compile(r"\b(?:hv[sbr]|[sbr])\.[A-Za-z0-9_-]{16,}")
_BLOB = re.compile(r"[A-Za-z0-9+/_-]{32,}={0,2}")  # long base64 / urlsafe blobs
# shorter random tokens (WPATs are 24 alphanumerics): a run of 16 to 31 letters, digits,
# '-' and '_' with both cases and a digit, or both cases not as words (_WORD_SEGMENT)
_SHORT = re.compile(r"(?<![A-Za-z0-9_-])[A-Za-z0-9_-]{16,31}(?![A-Za-z0-9_-])")
_HEX = re.compile(
    r"(?<![0-9a-fA-F])(?:[0-9a-fA-F]{64}|[0-9a-fA-F]{32}|[0-9a-fA-F]{40})(?![0-9a-fA-F])"
)
_UUID_ANYWHERE = re.compile(r"[0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}")
# words and identifiers, per '-' or '_' separated segment: CamelCase event names
# (FileInterrogationSuccess, DynamoDBTable), X-Work-Order-Token; a random token of both
# cases is almost never such a chain of capitalised words
_WORD_SEGMENT = re.compile(r"[a-z]*(?:[A-Z][a-z]{2,}|[A-Z]{2,5}(?![a-z])|[A-Z]$)*[0-9]{0,3}")
# five consonants in a row: rare in words, in every other random run of 16 letters
_CONSONANTS = re.compile(r"[bcdfghjklmnpqrstvwxz]{5,}", re.I)
_STANDARD_ATTRS = set(vars(logging.makeLogRecord({})).keys()) | {"message", "asctime"}
# ids we log on purpose look like UUIDs (36 chars with dashes) and are kept
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def _looks_random(match: re.Match[str]) -> str:
    run = match.group(0)
    upper, lower, digit = (
        any(test(c) for c in run) for test in (str.isupper, str.islower, str.isdigit)
    )
    letters = [c for c in run if c.isalpha()]
    # identifiers are mostly lower case (ResourceNotFoundException: 4 of 25), random ones half
    words = (
        sum(c.isupper() for c in letters) * 10 <= len(letters) * 4
        and not _CONSONANTS.search(run)
        and all(_WORD_SEGMENT.fullmatch(part) for part in re.split(r"[-_]", run))
    )
    if upper and lower and (digit or not words):
        return REDACTED
    return run


def scrub(text: str, *, keep_hex: bool = False) -> str:
    """Remove anything that looks like a credential from free text; ``keep_hex``: the text
    is a digest (a field named for one), so hex stays."""
    text = text.replace("\x00", "\ufffd")  # NUL marks the ids held out below
    for pattern in (_PEM, _JWT, _BEARER, _PRESIGNED_QUERY, _VAULT_TOKEN):
        text = pattern.sub(REDACTED, text)
    text = _SIGNED_PARAM.sub(
        lambda m: (m.group(1) or m.group(3)) + (m.group(2) or m.group(4)) + REDACTED, text
    )
    # UUIDs first out of the way: their hex groups must not read as hex secrets
    ids: list[str] = []

    def _hold(match: re.Match[str]) -> str:
        ids.append(match.group(0))
        return f"\x00{len(ids) - 1}\x00"

    text = _UUID_ANYWHERE.sub(_hold, text)
    text = _HEX.sub(_hold if keep_hex else REDACTED, text)
    text = _BLOB.sub(REDACTED, text)
    text = _SHORT.sub(_looks_random, text)
    return re.sub("\x00([0-9]+)\x00", lambda m: ids[int(m.group(1))], text)


def _clean(name: str, value: Any) -> Any:
    if _SENSITIVE_NAME.search(name) and not _SAFE_NAME.search(name):
        return REDACTED
    if isinstance(value, str):
        return (
            value if _UUID.match(value) else scrub(value, keep_hex=bool(_DIGEST_NAME.search(name)))
        )
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
