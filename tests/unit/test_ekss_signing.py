"""EkssClient signs its requests with SigV4 for execute-api when told to (AWS), the caller
token then in X-Service-Token; unsigned (the embedded stack) it is a bearer token.

The requests are captured at the transport (httpx.MockTransport): what would go on the
wire, checked against an independent recomputation of the signature with botocore."""

from __future__ import annotations

import base64
import json
import re

import httpx
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from shared.adapters.ekss import EkssClient
from shared.ports import SecretNotFound

BASE = "https://abc123.execute-api.eu-central-1.amazonaws.com/api"
REGION = "eu-central-1"
KEY = Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "session-token-1")
TOKEN = "irs-token-value"
AUTH = re.compile(
    r"^AWS4-HMAC-SHA256 Credential=(?P<key>[^/]+)/(?P<date>\d{8})/(?P<region>[^/]+)/"
    r"(?P<service>[^/]+)/aws4_request, SignedHeaders=(?P<signed>[^,]+), "
    r"Signature=(?P<signature>[0-9a-f]{64})$"
)


def _secrets_answer(request: httpx.Request) -> httpx.Response:
    if request.url.path.endswith("/secrets"):
        secret = base64.b64encode(bytes(32)).decode()
        body = {"submitter_secret": secret, "new_secret": secret, "secret_id": "s1", "offset": 0}
        return httpx.Response(200, json=body)
    return httpx.Response(404, json={"exception_id": "secretNotFound"})


def capture(**kwargs) -> tuple[EkssClient, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return _secrets_answer(request)

    client = EkssClient(BASE, TOKEN, transport=httpx.MockTransport(handler), **kwargs)
    return client, seen


def expected_signature(request: httpx.Request, signed: list[str], credentials: Credentials) -> str:
    """The signature botocore computes for the request as it went out."""
    again = AWSRequest(
        method=request.method,
        url=str(request.url),
        data=request.content,
        headers={name: request.headers[name] for name in signed},
    )
    again.context["timestamp"] = request.headers["x-amz-date"]
    auth = SigV4Auth(credentials, "execute-api", REGION)
    canonical = auth.canonical_request(again)
    return auth.signature(auth.string_to_sign(again, canonical), again)


def test_a_signed_request_carries_sigv4_for_execute_api_and_the_service_token() -> None:
    client, seen = capture(sign=True, region=REGION, credentials=KEY)
    client.create_secret("2b1d4f6e-0000-4000-8000-000000000001", "cHVibGlj")
    (request,) = seen
    match = AUTH.match(request.headers["authorization"])
    assert match, request.headers["authorization"]
    assert match["key"] == "AKIDEXAMPLE"
    assert (match["region"], match["service"]) == (REGION, "execute-api")
    assert match["date"] == request.headers["x-amz-date"][:8]
    assert request.headers["x-service-token"] == TOKEN
    assert request.headers["x-amz-security-token"] == "session-token-1"  # role credentials
    assert "bearer" not in request.headers["authorization"].lower()
    signed = match["signed"].split(";")
    assert {"host", "x-amz-date", "x-service-token", "content-type"} <= set(signed)
    assert match["signature"] == expected_signature(request, signed, KEY)
    # the body is signed: another body would not carry this signature
    forged = httpx.Request(
        request.method, request.url, headers=request.headers, content=request.content + b" "
    )
    assert expected_signature(forged, signed, KEY) != match["signature"]
    assert json.loads(request.content)["file_id"].startswith("2b1d4f6e")


def test_a_signed_envelope_request_signs_the_work_order_token_too() -> None:
    client, seen = capture(sign=True, region=REGION, credentials=KEY)
    with pytest.raises(SecretNotFound):  # what the stand-in answers
        client.envelope("s1", bytes(range(32)), "the-reader-wot")
    (request,) = seen
    match = AUTH.match(request.headers["authorization"])
    assert match
    signed = match["signed"].split(";")
    assert {"x-work-order-token", "x-service-token", "host"} <= set(signed)
    assert request.headers["x-work-order-token"] == "the-reader-wot"
    assert match["signature"] == expected_signature(request, signed, KEY)


def test_signing_takes_the_default_credential_chain(monkeypatch: pytest.MonkeyPatch) -> None:
    """On Lambda: the role's credentials and the region from the environment."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDFROMENV")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret-from-env")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "token-from-env")
    monkeypatch.setenv("AWS_REGION", "eu-west-3")
    client, seen = capture(sign=True)
    client.create_secret("2b1d4f6e-0000-4000-8000-000000000001", "cHVibGlj")
    (request,) = seen
    match = AUTH.match(request.headers["authorization"])
    assert match
    assert (match["key"], match["region"]) == ("AKIDFROMENV", "eu-west-3")
    assert request.headers["x-amz-security-token"] == "token-from-env"


def test_unsigned_the_token_is_a_bearer_token() -> None:
    client, seen = capture()
    client.create_secret("2b1d4f6e-0000-4000-8000-000000000001", "cHVibGlj")
    (request,) = seen
    assert request.headers["authorization"] == f"Bearer {TOKEN}"
    assert "x-service-token" not in request.headers
    assert "x-amz-date" not in request.headers


def test_signing_over_a_real_socket() -> None:
    """The signed request as a local HTTP server receives it."""
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    received: dict[str, str] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            received.update({k.lower(): v for k, v in self.headers.items()})
            self.rfile.read(int(self.headers["Content-Length"]))
            secret = base64.b64encode(bytes(32)).decode()
            body = json.dumps(
                {"submitter_secret": secret, "new_secret": secret, "secret_id": "s", "offset": 0}
            ).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/api"
        client = EkssClient(url, TOKEN, sign=True, region=REGION, credentials=KEY)
        client.create_secret("2b1d4f6e-0000-4000-8000-000000000001", "cHVibGlj")
    finally:
        server.shutdown()
        server.server_close()
    assert AUTH.match(received["authorization"])
    assert "/execute-api/aws4_request" in received["authorization"]
    assert received["x-service-token"] == TOKEN
