"""The whole way, with nothing played by the test: ``fs-connector upload``, interrogation
and registration by the archive, then another user's ``fs-connector download --decrypt``
(DCS asks IFRS to stage the file, the connector waits) gives back the very bytes, and only
them: no .c4gh unless asked for."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from tests.connector.download_helpers import download_env, download_package, run_download
from tests.connector.helpers import UploadBox, connector_env, make_keys, run_cli
from tests.support import EventStream, Operator


def test_uploaded_file_comes_back_through_the_archive(
    endpoints: dict[str, Any],
    operator: Operator,
    box: UploadBox,
    home: Path,
    tmp_path: Path,
) -> None:
    original = tmp_path / "reads.bam"
    original.write_bytes(os.urandom(3 * 65_536 + 4_321))
    stream = EventStream(endpoints, ["FileInternallyRegistered", "FileStagedForDownload"])
    try:
        uploaded = run_cli(["upload", str(original)], connector_env(endpoints, box, home))
        assert uploaded.returncode == 0, uploaded.stderr
        listing = run_cli(["ls", "--json"], connector_env(endpoints, box, home))
        (file_id,) = [item["id"] for item in json.loads(listing.stdout)]
        registered = stream.wait_for("FileInternallyRegistered", file_id, timeout=180)
        assert registered.payload["decrypted_size"] == original.stat().st_size

        requester = make_keys(tmp_path / "requester")
        extensions = {file_id: ".bam"}
        package = download_package(operator, requester, [file_id], file_extensions=extensions)
        out = tmp_path / "out"
        out.mkdir()
        env = download_env(endpoints, package, home, FS_CONNECTOR_MAX_WAIT="120")
        result = run_download(env, out, "--decrypt")
        stream.wait_for("FileStagedForDownload", file_id, timeout=10)  # IFRS staged it
    finally:
        stream.close()
    assert result.exit_code == 0, result.stderr
    assert "the archive is preparing this file for download; waiting" in result.stderr
    assert f"{file_id}: downloaded (" in result.stderr
    assert "sha-256 verified" in result.stderr
    assert (out / f"{file_id}.bam").read_bytes() == original.read_bytes()
    assert sorted(p.name for p in out.iterdir()) == [f"{file_id}.bam"]
