"""Work order tokens: short-lived ES256 JWTs signed by WPS, checked by UCS and DCS.

The verifier checks signature, expiry, issuer and audience; the route then
checks that the claims match what it serves (``require``). Error descriptions
never quote the token.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from shared.errors import Forbidden, Unauthorized

ALGORITHM = "ES256"
ISSUER = "fs-wps"
AUDIENCE_UPLOAD = "ucs"
AUDIENCE_DOWNLOAD = "dcs"


def generate_signing_key() -> tuple[str, str]:
    """A fresh P-256 key pair as (private PEM, public PEM)."""
    private = ec.generate_private_key(ec.SECP256R1())
    private_pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    public_pem = (
        private.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private_pem, public_pem


class TokenSigner:
    def __init__(self, private_pem: str, lifetime_seconds: int = 30) -> None:
        self._key = serialization.load_pem_private_key(private_pem.encode(), password=None)
        self.lifetime = lifetime_seconds

    def sign(self, claims: dict[str, Any], audience: str, now: float | None = None) -> str:
        issued = int(now if now is not None else time.time())
        payload = {
            **claims,
            "iss": ISSUER,
            "aud": audience,
            "iat": issued,
            "exp": issued + self.lifetime,
        }
        return jwt.encode(payload, self._key, algorithm=ALGORITHM)


class TokenVerifier:
    def __init__(self, public_pem: str, leeway_seconds: int = 5) -> None:
        self._key = serialization.load_pem_public_key(public_pem.encode())
        self.leeway = leeway_seconds

    def verify(self, token: str | None, audience: str) -> dict[str, Any]:
        if not token:
            raise Unauthorized("A work order token is required.", exception_id="noToken")
        try:
            return jwt.decode(
                token,
                self._key,
                algorithms=[ALGORITHM],
                audience=audience,
                issuer=ISSUER,
                leeway=self.leeway,
                options={"require": ["exp", "iat", "iss", "aud"]},
            )
        except jwt.ExpiredSignatureError as error:
            raise Unauthorized(
                "The work order token has expired; request a new one.",
                exception_id="expiredToken",
            ) from error
        except jwt.InvalidAudienceError as error:
            raise Forbidden(
                "The work order token is not valid for this service.",
                exception_id="wrongTokenAudience",
            ) from error
        except jwt.PyJWTError as error:
            raise Unauthorized(
                "The work order token is invalid.", exception_id="invalidToken"
            ) from error


def require(claims: dict[str, Any], **expected: Any) -> None:
    """Refuse a valid token whose claims do not match the route (403)."""
    for name, value in expected.items():
        if claims.get(name) != value:
            raise Forbidden(
                f"The work order token does not grant this operation ({name} differs).",
                exception_id="wrongToken",
                data={"claim": name},
            )


def bearer(headers: dict[str, str]) -> str | None:
    """The credential from an ``Authorization: Bearer ...`` header, if any."""
    value = headers.get("authorization") or headers.get("Authorization")
    if not value:
        return None
    scheme, _, credential = value.partition(" ")
    if scheme.lower() != "bearer" or not credential.strip():
        return None
    return credential.strip()


def hash_secret(value: str) -> str:
    """sha256 hex of a shared secret or access token: what we store instead of it."""
    return hashlib.sha256(value.encode()).hexdigest()


def matches_hash(value: str | None, stored_hash: str) -> bool:
    if not value:
        return False
    return hmac.compare_digest(hash_secret(value), stored_hash)


def random_token(length: int = 24) -> str:
    """A random access token of ``length`` url-safe characters, with an upper-case letter,
    a lower-case letter and a digit among them (drawn again until so): the log scrubber
    (shared/logs.py) knows such a run for a secret whatever else it looks like, while a
    token of letters alone could pass for a CamelCase name. Costs under 0.1 bit at 24."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
    while True:
        token = "".join(secrets.choice(alphabet) for _ in range(length))
        if length < 3 or (
            any(c.isupper() for c in token)
            and any(c.islower() for c in token)
            and any(c.isdigit() for c in token)
        ):
            return token
