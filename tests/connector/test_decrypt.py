"""``fs-connector decrypt``: standard Crypt4GH files to plaintext, offline; outputs are
checked before anything is written, and a damaged file leaves no output."""

from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path

import pytest
from crypt4gh import lib as c4gh_lib
from typer.testing import CliRunner

from connector.cli import app
from connector.errors import ExitCode
from shared.crypt.keys import generate_keypair
from tests.connector.helpers import KeyFiles

SIZES = {"empty": 0, "one": 1, "segment": 65_536, "more": 200_001}


def _encrypt(path: Path, plain: bytes, public_key: bytes) -> Path:
    """A Crypt4GH file written by the standard crypt4gh library."""
    writer, _ = generate_keypair()
    out = io.BytesIO()
    c4gh_lib.encrypt([(0, writer, public_key)], io.BytesIO(plain), out)
    path.write_bytes(out.getvalue())
    return path


@pytest.fixture
def encrypted(tmp_path: Path, keys: KeyFiles) -> dict[str, bytes]:
    """name -> plaintext, each as <name>.c4gh in tmp_path/in."""
    (tmp_path / "in").mkdir()
    files = {name: os.urandom(size) for name, size in SIZES.items()}
    for name, plain in files.items():
        _encrypt(tmp_path / "in" / f"{name}.c4gh", plain, keys.user.public_key)
    (tmp_path / "in" / "notes.txt").write_text("not part of it")
    return files


def _decrypt(keys: KeyFiles, *args: str):
    return CliRunner().invoke(
        app, ["decrypt", "--my-private-key-path", str(keys.private), *args], env={}
    )


def test_a_directory_is_decrypted(
    tmp_path: Path, keys: KeyFiles, encrypted: dict[str, bytes]
) -> None:
    result = _decrypt(keys, str(tmp_path / "in"), "--output-dir", str(tmp_path / "out"))
    assert result.exit_code == 0, result.stderr
    assert f"Done: {len(SIZES)} decrypted." in result.stderr
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(SIZES)
    for name, plain in encrypted.items():
        assert (tmp_path / "out" / name).read_bytes() == plain


def test_existing_outputs_are_refused_unless_overwrite(
    tmp_path: Path, keys: KeyFiles, encrypted: dict[str, bytes]
) -> None:
    source = tmp_path / "in" / "one.c4gh"
    (tmp_path / "in" / "one").write_bytes(b"keep me")
    refused = _decrypt(keys, str(source), str(tmp_path / "in" / "more.c4gh"))
    assert refused.exit_code == ExitCode.BAD_INPUT, refused.stderr
    assert "Nothing was decrypted:" in refused.stderr
    assert f"{tmp_path / 'in' / 'one'} exists; --overwrite replaces it" in refused.stderr
    assert (tmp_path / "in" / "one").read_bytes() == b"keep me"
    assert not (tmp_path / "in" / "more").exists()  # nothing at all was written

    done = _decrypt(keys, str(source), "--overwrite")
    assert done.exit_code == 0, done.stderr
    assert (tmp_path / "in" / "one").read_bytes() == encrypted["one"]


def test_a_wrong_key_is_a_clear_error(
    tmp_path: Path, keys: KeyFiles, encrypted: dict[str, bytes]
) -> None:
    from tests.connector.helpers import make_keys

    other = make_keys(tmp_path / "other")
    result = _decrypt(other, str(tmp_path / "in" / "more.c4gh"))
    assert result.exit_code == ExitCode.BAD_INPUT, result.stderr
    assert "cannot be decrypted with your private key" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "in" / "more").exists()


def test_not_a_crypt4gh_file(tmp_path: Path, keys: KeyFiles, encrypted: dict[str, bytes]) -> None:
    result = _decrypt(keys, str(tmp_path / "in" / "notes.txt"))
    assert result.exit_code == ExitCode.BAD_INPUT
    assert "notes.txt: is not a Crypt4GH file" in result.stderr
    missing = _decrypt(keys, str(tmp_path / "nothing-here"))
    assert missing.exit_code == ExitCode.BAD_INPUT
    assert "no such file or directory" in missing.stderr


@pytest.mark.parametrize("how", ["checksum", "damaged", "truncated"])
def test_a_bad_file_leaves_no_output(
    tmp_path: Path, keys: KeyFiles, encrypted: dict[str, bytes], how: str
) -> None:
    source = tmp_path / "in" / "more.c4gh"
    args = [str(source)]
    if how == "checksum":
        args += ["--expect-sha256", hashlib.sha256(b"something else").hexdigest()]
        why = "not decrypted: the plaintext's sha-256 is"
    elif how == "damaged":
        data = bytearray(source.read_bytes())
        data[124 + 70_000] ^= 0x80  # inside the second segment
        source.write_bytes(bytes(data))
        why = "not decrypted: segment 1 does not decrypt: the data is damaged"
    else:
        source.write_bytes(source.read_bytes()[:-3_411])  # 10 bytes of the last segment left
        why = "not decrypted: no Crypt4GH body has"
    result = _decrypt(keys, *args)
    assert result.exit_code == ExitCode.FAILED, result.stderr
    assert why in result.stderr
    assert sorted(p.name for p in (tmp_path / "in").iterdir() if "." not in p.name) == []


def test_expect_sha256_confirms_the_plaintext(
    tmp_path: Path, keys: KeyFiles, encrypted: dict[str, bytes]
) -> None:
    digest = hashlib.sha256(encrypted["more"]).hexdigest()
    source = str(tmp_path / "in" / "more.c4gh")
    result = _decrypt(keys, source, "--expect-sha256", digest.upper())
    assert result.exit_code == 0, result.stderr
    assert "sha-256 matches" in result.stderr
    assert (tmp_path / "in" / "more").read_bytes() == encrypted["more"]
    both = _decrypt(keys, str(tmp_path / "in"), "--expect-sha256", digest, "--overwrite")
    assert both.exit_code == ExitCode.BAD_INPUT
    assert "--expect-sha256 needs exactly one file" in both.stderr
