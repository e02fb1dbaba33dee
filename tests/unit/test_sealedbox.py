"""Tokens sealed to a user's Crypt4GH key: round trips with real key files."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from crypt4gh.keys import get_private_key, get_public_key

from shared.crypt.keys import KeyFormatError, decode_key, encode_key, generate_keypair
from shared.crypt.sealedbox import SealedBoxError, seal, unseal

BIN = Path(sys.executable).parent


@pytest.fixture
def key_files(tmp_path: Path) -> tuple[Path, Path]:
    secret, public = tmp_path / "user.sec", tmp_path / "user.pub"
    subprocess.run(
        [str(BIN / "crypt4gh-keygen"), "--sk", str(secret), "--pk", str(public), "--nocrypt", "-f"],
        check=True,
        capture_output=True,
    )
    return secret, public


def test_round_trip_with_crypt4gh_key_files(key_files: tuple[Path, Path]) -> None:
    secret_path, public_path = key_files
    private = get_private_key(str(secret_path), lambda: "")
    public = get_public_key(str(public_path))
    sealed = seal("TOKEN-abc123", public)
    assert "TOKEN" not in sealed
    assert unseal(sealed, private) == "TOKEN-abc123"


def test_each_seal_differs() -> None:
    _, public = generate_keypair()
    assert seal("x", public) != seal("x", public)


def test_another_key_cannot_open() -> None:
    _, public = generate_keypair()
    other_private, _ = generate_keypair()
    with pytest.raises(SealedBoxError):
        unseal(seal("secret", public), other_private)


@pytest.mark.parametrize("garbage", ["", "not base64!", "AAAA"])
def test_garbage_is_refused(garbage: str) -> None:
    private, _ = generate_keypair()
    with pytest.raises(SealedBoxError):
        unseal(garbage, private)


def test_key_encoding_accepts_standard_and_urlsafe() -> None:
    _, public = generate_keypair()
    standard = encode_key(public)
    urlsafe = standard.replace("+", "-").replace("/", "_").rstrip("=")
    assert decode_key(standard) == public
    assert decode_key(urlsafe) == public


@pytest.mark.parametrize("bad", ["", "abc", "AAAA" * 12, "!!!!"])
def test_key_encoding_refuses_bad_keys(bad: str) -> None:
    with pytest.raises(KeyFormatError):
        decode_key(bad)
