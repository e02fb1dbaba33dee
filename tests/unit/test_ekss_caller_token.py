"""EKSS tells its caller by the token in X-Service-Token (a SigV4-signed request, on AWS,
where Authorization is the signature) or, failing that, in Authorization: Bearer (the
embedded stack). The app itself answers, through Chalice's test client; only its
configuration (the two token hashes) is stood in for: no Vault, no inbox needed, because
the token check comes before anything else and a refused body is the proof it passed."""

from __future__ import annotations

from collections.abc import Iterator
from types import SimpleNamespace

import pytest
from chalice.test import Client

from functions.ekss import app as ekss_app
from functions.ekss.wire import caller_token
from shared.tokens import hash_secret

# Chalice's local gateway lets every request past an IAMAuthorizer (API Gateway checks it)
pytestmark = pytest.mark.filterwarnings("ignore:IAMAuthorizer is not a supported:UserWarning")
IRS, DCS = "irs-token-value", "dcs-token-value"
SIGV4 = (
    "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261203/eu-central-1/execute-api/aws4_request, "
    "SignedHeaders=host;x-amz-date;x-service-token, Signature=" + "0" * 64
)


@pytest.fixture
def client(monkeypatch: pytest.MonkeyPatch) -> Iterator[Client]:
    cfg = SimpleNamespace(irs_token_sha256=hash_secret(IRS), dcs_token_sha256=hash_secret(DCS))
    monkeypatch.setattr(ekss_app, "inject", lambda: SimpleNamespace(cfg=cfg))
    with Client(ekss_app.app) as test_client:
        yield test_client


def post_secrets(client: Client, headers: dict[str, str]) -> tuple[int, str]:
    # file_part is refused (422) once the caller is known: the token check passed
    response = client.http.post(
        "/secrets",
        headers={"Content-Type": "application/json", **headers},
        body=b'{"file_part": "x"}',
    )
    return response.status_code, response.json_body.get("exception_id", "")


def test_the_service_token_header_is_accepted_next_to_a_sigv4_authorization(client) -> None:
    headers = {"X-Service-Token": IRS, "Authorization": SIGV4}
    assert post_secrets(client, headers) == (422, "validationError")


def test_the_bearer_token_is_still_accepted(client) -> None:
    assert post_secrets(client, {"Authorization": f"Bearer {IRS}"}) == (422, "validationError")


def test_the_other_callers_service_token_is_refused(client) -> None:
    headers = {"X-Service-Token": DCS, "Authorization": SIGV4}
    assert post_secrets(client, headers) == (403, "wrongCaller")


def test_a_signature_alone_or_a_wrong_service_token_is_not_a_credential(client) -> None:
    assert post_secrets(client, {"Authorization": SIGV4}) == (401, "notAuthorized")
    wrong = {"X-Service-Token": "guess", "Authorization": f"Bearer {IRS}"}
    assert post_secrets(client, wrong) == (401, "notAuthorized")  # no falling back
    assert post_secrets(client, {}) == (401, "notAuthorized")


def test_token_extraction() -> None:
    assert caller_token({"x-service-token": " t1 ", "authorization": "Bearer t2"}) == "t1"
    assert caller_token({"authorization": "Bearer t2"}) == "t2"
    assert caller_token({"authorization": SIGV4}) is None
    assert caller_token({"x-service-token": ""}) is None
