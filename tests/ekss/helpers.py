"""Helpers of the key store tests: uploads in the inbox, hand-made headers, registration
through the event bus, a look into Vault."""

from __future__ import annotations

import base64
import time
import uuid
from collections.abc import Callable
from typing import Any

import hvac
from crypt4gh import header as c4gh_header
from hvac.exceptions import InvalidPath

from shared.crypt import c4gh
from shared.manifest import manifest_key
from shared.resources import bucket_name
from tests.support import aws, publish_event

SECRETS_PATH = "fs/ekss/secrets"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def encrypt_upload(plain: bytes, writer_private: bytes, recipient_public: bytes) -> bytes:
    """A whole Crypt4GH file as the connector uploads it: one header, then the body."""
    session_key = c4gh.new_session_key()
    return c4gh.make_header(session_key, writer_private, recipient_public) + c4gh.encrypt_body(
        plain, session_key
    )


def list_secrets(vault: hvac.Client, path: str = SECRETS_PATH) -> set[str]:
    try:
        listed = vault.secrets.kv.v2.list_secrets(path=path, mount_point="secret")
    except InvalidPath:
        return set()
    return set(listed["data"]["keys"])


def read_secret(vault: hvac.Client, secret_id: str, path: str = SECRETS_PATH) -> dict | None:
    try:
        response = vault.secrets.kv.v2.read_secret_version(
            path=f"{path}/{secret_id}", mount_point="secret", raise_on_deleted_version=True
        )
    except InvalidPath:
        return None
    return response["data"]["data"]


def custom_header(plain_packets: list[bytes], writer_private: bytes, recipient: bytes) -> bytes:
    """A header of several packets (data keys, edit lists), each for ``recipient``."""
    return c4gh_header.serialize(
        encrypted
        for packet in plain_packets
        for encrypted in c4gh_header.encrypt(packet, [(0, writer_private, recipient)])
    )


def key_packet(session_key: bytes) -> bytes:
    return c4gh_header.make_packet_data_enc(0, session_key)


def edit_list_packet(lengths: list[int]) -> bytes:
    return c4gh_header.make_packet_data_edit_list(lengths)


def all_versions(vault: hvac.Client, path: str) -> dict[int, dict | None]:
    """Every version Vault keeps at the path, with its data (None: deleted or destroyed)."""
    kv = vault.secrets.kv.v2
    try:
        metadata = kv.read_secret_metadata(path=path, mount_point="secret")
    except InvalidPath:
        return {}
    versions: dict[int, dict | None] = {}
    for version in sorted(int(v) for v in metadata["data"]["versions"]):
        try:
            response = kv.read_secret_version(
                path=path, version=version, mount_point="secret", raise_on_deleted_version=False
            )
        except InvalidPath:
            versions[version] = None
            continue
        versions[version] = response["data"]["data"]
    return versions


# ---------------------------------------------------------------- the stack around EKSS


def inbox(endpoints: dict[str, Any]) -> str:
    return bucket_name("inbox", endpoints["resource_prefix"])


def put_in_inbox(endpoints: dict[str, Any], data: bytes, file_id: str | None = None) -> str:
    """An upload in the inbox, as UCS leaves it (its key is the file id); the file id."""
    file_id = file_id or str(uuid.uuid4())
    aws(endpoints, "s3").put_object(Bucket=inbox(endpoints), Key=file_id, Body=data)
    return file_id


def remove_from_inbox(endpoints: dict[str, Any], file_id: str) -> None:
    """As UCS does once the file is registered (or the upload is given up)."""
    aws(endpoints, "s3").delete_object(Bucket=inbox(endpoints), Key=file_id)


def registered_payload(
    endpoints: dict[str, Any], file_id: str, secret_id: str, size: int = 1000
) -> dict[str, Any]:
    pfx = endpoints["resource_prefix"]
    object_id = str(uuid.uuid4())
    return {
        "file_id": file_id,
        "box_id": str(uuid.uuid4()),
        "staged_object_id": str(uuid.uuid4()),
        "staging_bucket": bucket_name("staging", pfx),
        "secret_id": secret_id,
        "offset": 124,
        "encrypted_part_size": size,
        "decrypted_sha256": "0" * 64,
        "decrypted_size": max(size - 28, 0),
        "encrypted_size": size,
        "object_id": object_id,
        "bucket": bucket_name("permanent", pfx),
        # EKSS never reads the manifest; the event names one as IFRS's does
        "parts_manifest": {
            "bucket": bucket_name("permanent", pfx),
            "key": manifest_key(object_id),
            "sha256": "0" * 64,
            "size": 100,
            "parts": 1,
        },
    }


def stack_vault(endpoints: dict[str, Any]) -> hvac.Client:
    return hvac.Client(url=endpoints["vault_addr"], token=endpoints["vault_token"])


def wait_for_secret(
    endpoints: dict[str, Any],
    secret_id: str,
    done: Callable[[dict | None], bool],
    timeout: float = 30,
) -> dict | None:
    """Poll Vault (bounded) until the stored secret satisfies ``done``; what it holds."""
    vault = stack_vault(endpoints)
    deadline = time.monotonic() + timeout
    while True:
        data = read_secret(vault, secret_id)
        if done(data):
            return data
        if time.monotonic() > deadline:
            raise AssertionError(f"the secret {secret_id} is still {sorted(data or {})}")
        time.sleep(0.2)


def register_at_ekss(endpoints: dict[str, Any], file_id: str, secret_id: str) -> dict | None:
    """Publish FileInternallyRegistered (as IFRS does) and wait until EKSS marked the
    file's secret registered; the stored data."""
    payload = registered_payload(endpoints, file_id, secret_id)
    publish_event(endpoints, "FileInternallyRegistered", payload, key=file_id)
    return wait_for_secret(endpoints, secret_id, lambda data: "registered" in (data or {}))
