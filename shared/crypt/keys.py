"""Crypt4GH key encoding: raw 32-byte Curve25519 keys, base64 on the wire."""

from __future__ import annotations

import base64
import binascii
import os

from nacl.public import PrivateKey

KEY_SIZE = 32


class KeyFormatError(ValueError):
    """A key that is not base64 of exactly 32 bytes."""


def encode_key(key: bytes) -> str:
    if len(key) != KEY_SIZE:
        raise KeyFormatError("a Crypt4GH key has 32 bytes")
    return base64.b64encode(key).decode("ascii")


def decode_key(text: str) -> bytes:
    """Decode standard or url-safe base64 of a raw 32-byte key."""
    if not isinstance(text, str) or not text.strip():
        raise KeyFormatError("empty key")
    text = text.strip()
    padded = text + "=" * (-len(text) % 4)
    try:
        if "-" in text or "_" in text:
            raw = base64.urlsafe_b64decode(padded)
        else:
            raw = base64.b64decode(padded, validate=True)
    except (binascii.Error, ValueError) as error:
        raise KeyFormatError("not base64") from error
    if len(raw) != KEY_SIZE:
        raise KeyFormatError(f"a Crypt4GH key has 32 bytes, this one {len(raw)}")
    return raw


def generate_keypair() -> tuple[bytes, bytes]:
    """Return (private, public) raw keys."""
    private = PrivateKey(os.urandom(KEY_SIZE))
    return bytes(private), bytes(private.public_key)


def public_from_private(private: bytes) -> bytes:
    return bytes(PrivateKey(private).public_key)


def public_key_pem(public: bytes) -> str:
    """A public key in the Crypt4GH key-file format that crypt4gh and GHGA's tools read."""
    return (
        "-----BEGIN CRYPT4GH PUBLIC KEY-----\n"
        f"{encode_key(public)}\n"
        "-----END CRYPT4GH PUBLIC KEY-----\n"
    )


def private_key_pem(private: bytes) -> str:
    """An unencrypted private key in the Crypt4GH key-file format (c4gh-v1, kdf none)."""
    from crypt4gh.keys import c4gh

    blob = (
        c4gh.MAGIC_WORD
        + c4gh.encode_string(b"none")
        + c4gh.encode_string(b"none")
        + c4gh.encode_string(private)
    )
    return (
        "-----BEGIN CRYPT4GH PRIVATE KEY-----\n"
        f"{base64.b64encode(blob).decode()}\n"
        "-----END CRYPT4GH PRIVATE KEY-----\n"
    )
