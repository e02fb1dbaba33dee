"""GHGA's own client, ghga-connector 4.x, downloads from our DCS unchanged.

The test plays IFRS's staging half: when DCS asks for the file (NonStagedFileRequested),
it puts the content into the outbox and reports FileStagedForDownload.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

from tests.compat.ghga import run_ghga, write_key_files
from tests.dcs.helpers import archived_file, put_in_outbox, register, report_staged
from tests.support import EventStream, Operator, User


def test_ghga_connector_downloads_and_decrypts(
    endpoints: dict[str, Any], operator: Operator, tmp_path: Path
) -> None:
    user = User.new()
    public, private = write_key_files(tmp_path, user)
    f = archived_file(endpoints, os.urandom(300_000))
    response = operator.http.post(
        f"{endpoints['wps_url']}/work-packages",
        json={
            "type": "download",
            "file_ids": [f.file_id],
            "file_extensions": {f.file_id: ".bin"},
            "user_public_crypt4gh_key": user.public_b64,
        },
    )
    assert response.status_code == 201, response.text
    wpat = f"{response.json()['id']}:{response.json()['token']}"
    register(endpoints, f)

    stream = EventStream(endpoints, ["NonStagedFileRequested"])
    failures: list[BaseException] = []

    def play_ifrs() -> None:
        try:
            stream.wait_for("NonStagedFileRequested", f.file_id, timeout=120)
            put_in_outbox(endpoints, f)
            report_staged(endpoints, f)
        except BaseException as error:  # reported by the main thread
            failures.append(error)

    ifrs = threading.Thread(target=play_ifrs, daemon=True)
    ifrs.start()
    try:
        (tmp_path / "out").mkdir()
        keys = ["--my-public-key-path", str(public), "--my-private-key-path", str(private)]
        result = run_ghga(
            "download",
            "--output-dir",
            str(tmp_path / "out"),
            *keys,
            wkvs_url=endpoints["wkvs_url"],
            cwd=tmp_path,
            stdin=wpat + "\n",
            part_size=str(70_001),  # several unaligned range requests
            max_wait_time="120",
        )
        ifrs.join(timeout=130)
    finally:
        stream.close()
    assert not failures, failures
    output = tmp_path / "out" / f"{f.file_id}.bin.c4gh"
    assert output.exists(), result.stdout + result.stderr

    result = run_ghga(
        "decrypt",
        "--input-dir",
        str(tmp_path / "out"),
        "--output-dir",
        str(tmp_path / "plain"),
        "--my-private-key-path",
        str(private),
        wkvs_url=endpoints["wkvs_url"],
        cwd=tmp_path,
        stdin="",
    )
    decrypted = tmp_path / "plain" / f"{f.file_id}.bin"
    assert decrypted.exists(), result.stdout + result.stderr
    assert decrypted.read_bytes() == f.plain
