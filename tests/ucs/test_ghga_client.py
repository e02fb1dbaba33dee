"""GHGA's own client (ghga-connector 4.0.1) uploads through UCS unchanged.

Skipped where that client is not installed (it lives outside this project's venv).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest

from shared.crypt.c4gh import encrypted_size
from tests.support import Operator

GHGA_VENV = Path(os.environ.get("GHGA_CONNECTOR_VENV", "/tmp/ghgavenv"))
CONNECTOR = GHGA_VENV / "bin" / "ghga-connector"
KEYGEN = GHGA_VENV / "bin" / "crypt4gh-keygen"

pytestmark = pytest.mark.skipif(
    not CONNECTOR.exists(), reason="GHGA's ghga-connector is not installed"
)


def run_connector(workdir: Path, endpoints: dict[str, Any], wpat: str) -> str:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(workdir),
        "NO_PROXY": "127.0.0.1,localhost",
        "GHGA_CONNECTOR_WKVS_API_URL": endpoints["wkvs_url"],
        "GHGA_CONNECTOR_CLIENT_NUM_RETRIES": "1",
        "GHGA_CONNECTOR_PART_SIZE": "5245120",
    }
    result = subprocess.run(
        [
            str(CONNECTOR),
            "batch-upload",
            "--tsv",
            "files.tsv",
            "--my-public-key-path",
            "key.pub",
            "--my-private-key-path",
            "key.sec",
        ],
        input=f"{wpat}\n",
        capture_output=True,
        text=True,
        cwd=workdir,
        env=env,
        timeout=240,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    return output


def test_batch_upload_with_ghga_connector(
    tmp_path: Path, endpoints: dict[str, Any], operator: Operator
) -> None:
    subprocess.run(
        [str(KEYGEN), "--nocrypt", "--sk", "key.sec", "--pk", "key.pub", "-f"],
        cwd=tmp_path,
        check=True,
        capture_output=True,
    )
    public_b64 = (tmp_path / "key.pub").read_text().splitlines()[1].strip()
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
