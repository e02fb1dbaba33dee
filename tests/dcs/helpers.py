"""Playing IFRS for DCS, and calling DCS as GHGA's client (and a plain range reader) does.

IFRS's staging half does not exist yet, so the tests register files and stage them
themselves: a real secret from EKSS (a small Crypt4GH upload in the inbox, POST /secrets
with IRS's credential), the
content re-encrypted with it, FileInternallyRegistered / FileStagedForDownload published
on the stack's topics, and the content put into the outbox bucket.
"""

from __future__ import annotations

import base64
import hashlib
import io
import time
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
from crypt4gh import lib as c4gh_lib

from functions.ekss.model import file_secret_id
from shared.crypt import c4gh
from shared.crypt.keys import decode_key, encode_key, generate_keypair
from shared.resources import bucket_name
from tests.ekss.helpers import put_in_inbox, wait_for_secret
from tests.support import Operator, User, aws, download_wot, publish_event


@dataclass
class ArchivedFile:
    """A file as the archive keeps it: header-less content encrypted with an EKSS secret."""

    file_id: str
    object_id: str
    secret_id: str
    plain: bytes
    content: bytes

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.plain).hexdigest()


def new_secret(endpoints: dict[str, Any]) -> tuple[str, str, bytes]:
    """(file_id, secret_id, secret) of a file's secret, as IRS gets it: a small Crypt4GH
    upload put into the inbox, then POST /secrets for it with IRS's credential."""
    submitter_private, submitter_public = generate_keypair()
    session_key = c4gh.new_session_key()
    header = c4gh.make_header(
        session_key, submitter_private, decode_key(endpoints["archive_public_key"])
    )
    upload = header + c4gh.encrypt_body(b"first bytes of an upload", session_key)
    file_id = put_in_inbox(endpoints, upload)
    response = httpx.post(
        f"{endpoints['ekss_url']}/secrets",
        json={"file_id": file_id, "public_key": encode_key(submitter_public)},
        headers={"Authorization": f"Bearer {endpoints['irs_ekss_token']}"},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    return file_id, body["secret_id"], base64.b64decode(body["new_secret"])


def archived_file(endpoints: dict[str, Any], plain: bytes) -> ArchivedFile:
    """A file with its secret at EKSS (not registered yet: ``register`` does that)."""
    file_id, secret_id, secret = new_secret(endpoints)
    return ArchivedFile(
        file_id=file_id,
        object_id=str(uuid.uuid4()),
        secret_id=secret_id,
        plain=plain,
        content=c4gh.encrypt_body(plain, secret),
    )


def fake_file() -> ArchivedFile:
    """A file that is only registered, never read: its secret id is made up, it is empty."""
    return ArchivedFile(str(uuid.uuid4()), str(uuid.uuid4()), str(uuid.uuid4()), b"", b"")


def registered_payload(
    endpoints: dict[str, Any], f: ArchivedFile, size: int | None = None
) -> dict[str, Any]:
    size = len(f.content) if size is None else size
    pfx = endpoints["resource_prefix"]
    return {
        "file_id": f.file_id,
        "box_id": str(uuid.uuid4()),
        "staged_object_id": str(uuid.uuid4()),
        "staging_bucket": bucket_name("staging", pfx),
        "secret_id": f.secret_id,
        "offset": 124,
        "encrypted_part_size": max(size, 1),
        # DCS never reads the manifest: a reference of the right shape is enough
        "parts_manifest": {
            "bucket": bucket_name("permanent", pfx),
            "key": f"manifests/{f.object_id}.json",
            "sha256": hashlib.sha256(f.content).hexdigest(),
            "size": 1,
            "parts": 1,
        },
        "decrypted_sha256": f.sha256,
        "decrypted_size": len(f.plain),
        "encrypted_size": size,
        "object_id": f.object_id,
        "bucket": bucket_name("permanent", pfx),
    }


def register(endpoints: dict[str, Any], f: ArchivedFile, size: int | None = None) -> str:
    """Publish FileInternallyRegistered, as IFRS does after copying to permanent storage;
    for a file with a secret at EKSS, wait until EKSS too marked it registered (DCS and
    EKSS consume the event each from its own queue, in any order), or finds a tombstone."""
    payload = registered_payload(endpoints, f, size)
    event_id = publish_event(endpoints, "FileInternallyRegistered", payload, key=f.file_id)
    if f.secret_id == file_secret_id(uuid.UUID(f.file_id)):  # a tombstone stays one
        wait_for_secret(endpoints, f.secret_id, _registered_or_gone)
    return event_id


def _registered_or_gone(data: dict | None) -> bool:
    return "registered" in (data or {}) or "secret" not in (data or {})


def outbox(endpoints: dict[str, Any]) -> str:
    return bucket_name("outbox", endpoints["resource_prefix"])


def put_in_outbox(endpoints: dict[str, Any], f: ArchivedFile) -> None:
    aws(endpoints, "s3").put_object(Bucket=outbox(endpoints), Key=f.object_id, Body=f.content)


def in_outbox(endpoints: dict[str, Any], f: ArchivedFile) -> bool:
    found = aws(endpoints, "s3").list_objects_v2(Bucket=outbox(endpoints), Prefix=f.object_id)
    return any(o["Key"] == f.object_id for o in found.get("Contents", []))


def report_staged(endpoints: dict[str, Any], f: ArchivedFile) -> str:
    """Publish FileStagedForDownload, as IFRS does after copying to the outbox."""
    payload = {
        "file_id": f.file_id,
        "target_object_id": f.object_id,
        "target_bucket": outbox(endpoints),
        "decrypted_sha256": f.sha256,
    }
    return publish_event(endpoints, "FileStagedForDownload", payload, key=f.file_id)


def decrypt_c4gh(data: bytes, private_key: bytes) -> bytes:
    """Decrypt a whole .c4gh file with the standard crypt4gh library, as a user would."""
    out = io.BytesIO()
    c4gh_lib.decrypt([(0, private_key, None)], io.BytesIO(data), out)
    return out.getvalue()


class Requester:
    """A data requester with a download work package, calling DCS like GHGA's client."""

    def __init__(
        self,
        endpoints: dict[str, Any],
        operator: Operator,
        file_ids: list[str],
        user: User | None = None,
    ) -> None:
        self.endpoints = endpoints
        self.user = user or User.new()
        self.package_id, self.wpat = operator.download_package(self.user, file_ids)
        self.http = httpx.Client(timeout=60)
        self.base = f"{endpoints['dcs_url']}/objects"

    def wot(self, file_id: str) -> str:
        return download_wot(self.endpoints, self.user, self.package_id, self.wpat, file_id)

    @staticmethod
    def headers(token: str | None, **extra: str) -> dict[str, str]:
        # what GHGA's client sends on DCS calls (docs/ghga-wire-format.md §5)
        headers = {
            "Accept": "application/json",
            "Content-Type": "application/json",
            "Cache-Control": "min-fresh=3",
            **extra,
        }
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        return headers

    def drs(self, file_id: str, token: str | None = "") -> httpx.Response:
        token = self.wot(file_id) if token == "" else token
        return self.http.get(f"{self.base}/{file_id}", headers=self.headers(token))

    def envelope(self, file_id: str, token: str | None = "") -> httpx.Response:
        token = self.wot(file_id) if token == "" else token
        return self.http.get(f"{self.base}/{file_id}/envelopes", headers=self.headers(token))

    def assembled(
        self,
        file_id: str,
        byte_range: str | None = None,
        *,
        method: str = "GET",
        accept: str | None = "*/*",
        token: str | None = "",
    ) -> httpx.Response:
        """As a plain HTTP range reader: a bearer token and a Range header."""
        token = self.wot(file_id) if token == "" else token
        headers = {}
        if accept is not None:
            headers["Accept"] = accept
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        if byte_range is not None:
            headers["Range"] = byte_range
        request = self.http.build_request(
            method, f"{self.base}/{file_id}/assembled", headers=headers
        )
        if accept is None:
            del request.headers["Accept"]  # httpx would send */*
        return self.http.send(request)

    def wait_for(self, file_id: str, status: int, timeout: float = 60) -> httpx.Response:
        """Poll GET /objects (bounded) until it answers ``status``."""
        deadline = time.monotonic() + timeout
        while True:
            response = self.drs(file_id)
            if response.status_code == status:
                return response
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"GET /objects/{file_id} still answers {response.status_code} "
                    f"after {timeout:.0f}s: {response.text[:300]}"
                )
            time.sleep(0.2)


def staged_file(
    endpoints: dict[str, Any], operator: Operator, plain: bytes
) -> tuple[ArchivedFile, Requester]:
    """A registered file, staged into the outbox, and a requester who may download it."""
    f = archived_file(endpoints, plain)
    requester = Requester(endpoints, operator, [f.file_id])
    register(endpoints, f)
    requester.wait_for(f.file_id, 202)
    put_in_outbox(endpoints, f)
    report_staged(endpoints, f)
    requester.wait_for(f.file_id, 200)
    return f, requester
