"""GHGA's own client (ghga-connector 4.0.1) uploads through UCS unchanged.

It runs from .venv-ghga, which `make install` creates (tests/compat/ghga.py drives it).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import httpx

from shared.crypt.c4gh import encrypted_size
from tests.compat.ghga import run_ghga, write_key_files
from tests.support import Operator, User


def run_connector(workdir: Path, endpoints: dict[str, Any], wpat: str) -> str:
    result = run_ghga(
        "batch-upload",
        "--tsv",
        "files.tsv",
        "--my-public-key-path",
        "key.pub",
        "--my-private-key-path",
        "key.sec",
        wkvs_url=endpoints["wkvs_url"],
        cwd=workdir,
        stdin=f"{wpat}\n",
        timeout=240,
        client_num_retries="1",
        part_size="5245120",
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    return output


def test_batch_upload_with_ghga_connector(
    tmp_path: Path, endpoints: dict[str, Any], operator: Operator
) -> None:
    user = User.new()
    write_key_files(tmp_path, user)
    public_b64 = user.public_b64
    box_id = operator.create_box()
    created = operator.http.post(
        f"{endpoints['wps_url']}/work-packages",
        json={
            "type": "upload",
            "user_public_crypt4gh_key": public_b64,
            "file_upload_box_id": box_id,
        },
    )
    assert created.status_code == 201, created.text
    wpat = f"{created.json()['id']}:{created.json()['token']}"

    sizes = {"small.txt": 1000, "two-parts.bin": 6_000_000, "empty.dat": 0}
    for name, size in sizes.items():
        (tmp_path / name).write_bytes(os.urandom(size))
    (tmp_path / "files.tsv").write_text("".join(f"{tmp_path / name}\t{name}\n" for name in sizes))

    output = run_connector(tmp_path, endpoints, wpat)
    assert "All files uploaded successfully" in output, output

    listing = operator.http.get(f"{endpoints['ucs_url']}/boxes/{box_id}/uploads").json()
    assert listing["total_count"] == 3
    by_alias = {item["alias"]: item for item in listing["items"]}
    assert set(by_alias) == set(sizes)
    for name, size in sizes.items():
        item = by_alias[name]
        assert item["state"] == "inbox", item
        assert item["decrypted_size"] == size
        assert item["encrypted_size"] == encrypted_size(size)
    assert by_alias["two-parts.bin"]["part_count"] == 2

    # a second run lists the box and skips what is there
    again = run_connector(tmp_path, endpoints, wpat)
    assert "Skipping 3 file(s) already present" in again, again
    assert httpx.get(f"{endpoints['ucs_url']}/health").json() == {"status": "OK"}
    listing = operator.http.get(f"{endpoints['ucs_url']}/boxes/{box_id}/uploads").json()
    assert listing["total_count"] == 3, again
