"""GHGA's own client uploads into our archive unchanged (batch-upload)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import httpx

from shared.adapters.aws import client
from shared.crypt import c4gh
from shared.crypt.keys import decode_key
from tests.compat.ghga import run_ghga, write_key_files
from tests.support import Operator, User


def _archive_private_key(endpoints: dict) -> bytes:
    response = httpx.get(
        f"{endpoints['vault_addr']}/v1/secret/data/fs/ekss/archive-keys/archive",
        headers={"X-Vault-Token": endpoints["vault_token"]},
    )
    return decode_key(response.json()["data"]["data"]["private_key"])


def test_batch_upload_of_several_files(
    endpoints: dict, operator: Operator, user: User, tmp_path: Path
) -> None:
    public, private = write_key_files(tmp_path, user)
    files = {
        "empty.bin": b"",
        "small.txt": b"hello archive\n" * 70,
        "multi.bin": os.urandom(5_245_120 + 123_457),  # two parts at the smallest part size
    }
    lines = []
    for alias, data in files.items():
        (tmp_path / alias).write_bytes(data)
        lines.append(f"{tmp_path / alias}\t{alias}")
    (tmp_path / "files.tsv").write_text("\n".join(lines) + "\n")
    box_id = operator.create_box()
    _, wpat_sealed_pasted = _pasteable_upload_package(operator, user, box_id)

    result = run_ghga(
        "batch-upload",
        "--tsv",
        str(tmp_path / "files.tsv"),
        "--my-public-key-path",
        str(public),
        "--my-private-key-path",
        str(private),
        wkvs_url=endpoints["wkvs_url"],
        cwd=tmp_path,
        stdin=wpat_sealed_pasted + "\n",
        part_size=str(5 * 1024**2),
    )
    assert "All files uploaded successfully" in result.stdout, result.stdout + result.stderr

    listing = operator.http.get(f"{endpoints['ucs_url']}/boxes/{box_id}/uploads").json()
    by_alias = {item["alias"]: item for item in listing["items"]}
    assert set(by_alias) == set(files)
    archive_key = _archive_private_key(endpoints)
    s3 = client("s3")
    inbox = f"{endpoints['resource_prefix']}-inbox"
    for alias, data in files.items():
        item = by_alias[alias]
        assert item["state"] in ("inbox", "interrogated", "registered"), item
        assert item["decrypted_size"] == len(data)
        body = s3.get_object(Bucket=inbox, Key=item["id"])["Body"].read()
        keys, header_length = c4gh.parse_header(body, archive_key)
        assert hashlib.sha256(c4gh.decrypt_body(body[header_length:], keys)).digest() == (
            hashlib.sha256(data).digest()
        )


def _pasteable_upload_package(operator: Operator, user: User, box_id: str) -> tuple[str, str]:
    response = operator.http.post(
        f"{operator.endpoints['wps_url']}/work-packages",
        json={
            "type": "upload",
            "file_upload_box_id": box_id,
            "user_public_crypt4gh_key": user.public_b64,
        },
    )
    assert response.status_code == 201, response.text
    created = response.json()
    return created["id"], f"{created['id']}:{created['token']}"
