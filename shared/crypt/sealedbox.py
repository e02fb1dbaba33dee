"""Tokens handed to a user travel encrypted to their Crypt4GH public key.

Base64 of a NaCl SealedBox (Curve25519), as GHGA does, so GHGA's connector
can open what we send.
"""

from __future__ import annotations

import base64
import binascii

from nacl.exceptions import CryptoError
from nacl.public import PrivateKey, PublicKey, SealedBox


class SealedBoxError(ValueError):
    """The data could not be opened with this key."""


def seal(text: str, public_key: bytes) -> str:
    return base64.b64encode(SealedBox(PublicKey(public_key)).encrypt(text.encode())).decode()


def unseal(data: str, private_key: bytes) -> str:
    try:
        raw = base64.b64decode(data, validate=True)
        return SealedBox(PrivateKey(private_key)).decrypt(raw).decode()
    except (binascii.Error, ValueError, CryptoError, UnicodeDecodeError) as error:
        raise SealedBoxError("cannot be opened with this private key") from error
