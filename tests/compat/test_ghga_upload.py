"""GHGA's own client uploads into our archive unchanged (batch-upload)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from tests.compat.ghga import run_ghga, write_key_files
from tests.support import EventStream, Operator, User


def test_batch_upload_of_several_files(
    endpoints: dict, operator: Operator, user: User, tmp_path: Path
) -> None:
    events = EventStream(
        endpoints,
        ("FileInterrogationSuccess", "FileInterrogationFailure", "FileInternallyRegistered"),
    )
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
    for alias, data in files.items():
        item = by_alias[alias]
        assert item["decrypted_size"] == len(data)
        # the archive decrypted what GHGA's client sent and found the original's checksum
        success = events.wait_for("FileInterrogationSuccess", item["id"], timeout=120)
        assert success.payload["decrypted_sha256"] == hashlib.sha256(data).hexdigest()
        events.wait_for("FileInternallyRegistered", item["id"], timeout=60)
        assert not events.events("FileInterrogationFailure", item["id"])


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
