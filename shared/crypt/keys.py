"""Crypt4GH key encoding: raw 32-byte Curve25519 keys, base64 on the wire."""

from __future__ import annotations

import base64
import binascii
import os

from nacl.public import PrivateKey

KEY_SIZE = 32


class KeyFormatError(ValueError):
    """A key that is not base64 of exactly 32 bytes."""


class WeakKeyError(KeyFormatError):
    """A public key of small order: every shared secret with it is one of a few known values
    (all zero for most), so whatever is sealed or enveloped to it is readable by anyone."""


# Curve25519's field prime, and the u-coordinates of the points of small order (orders 1,
# 2, 4 and 8; libsodium's blocklist): 0, 1, p - 1 and the two points of order 8. The top
# bit of an encoding is ignored by X25519 and a value >= p is reduced, so both are
# normalised before the comparison (p and p + 1 are 0 and 1 in disguise).
_P = 2**255 - 19
_SMALL_ORDER_U = frozenset(
    {
        0,
        1,
        _P - 1,
        325606250916557431795983626356110631294008115727848805560023387167927233504,
        39382357235489614581723060781553021112529911719440698176882885853963445705823,
    }
)


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


def check_public_key(raw: bytes) -> bytes:
    """``raw`` if it is a usable X25519 public key; ``WeakKeyError`` for a point of small
    order, which would make the archive seal tokens and envelopes to a key anyone can
    open (libsodium refuses these only in some calls; this refuses them everywhere)."""
    if len(raw) != KEY_SIZE:
        raise KeyFormatError(f"a Crypt4GH key has 32 bytes, this one {len(raw)}")
    u = int.from_bytes(raw, "little") & ((1 << 255) - 1)
    if u % _P in _SMALL_ORDER_U:
        raise WeakKeyError("a public key of small order (a point no one has a secret key for)")
    return raw


def decode_public_key(text: str) -> bytes:
    """``decode_key`` for a public key someone hands us: small-order points are refused."""
    return check_public_key(decode_key(text))


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
