"""Helpers of the key store tests: uploads, hand-made headers, a look into Vault."""

from __future__ import annotations

import base64

import hvac
from crypt4gh import header as c4gh_header
from hvac.exceptions import InvalidPath

from shared.crypt import c4gh

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
