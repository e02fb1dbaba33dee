"""The whole way: ``fs-connector upload``, interrogation and registration by the archive,
then another user's ``fs-connector download --decrypt`` gives back the very bytes.

IFRS's staging half (permanent storage → outbox on NonStagedFileRequested) is played by
the test until IFRS does it itself; both doing it is harmless (DCS's handling of
FileStagedForDownload is idempotent and the copies are the same bytes).
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any

from tests.connector.download_helpers import download_env, download_package, run_download
from tests.connector.helpers import UploadBox, connector_env, make_keys, run_cli
from tests.support import EventStream, Operator, aws, publish_event


def _stage_when_asked(
    endpoints: dict[str, Any], stream: EventStream, file_id: str, failures: list
) -> None:
    """IFRS's staging half: copy the permanent object to the outbox, report it staged."""
    try:
        registered = stream.wait_for("FileInternallyRegistered", file_id, timeout=120)
        request = stream.wait_for("NonStagedFileRequested", file_id, timeout=120)
        target = request.payload["target_object_id"]
        aws(endpoints, "s3").copy_object(
            Bucket=request.payload["target_bucket"],
            Key=target,
            CopySource={
                "Bucket": registered.payload["bucket"],
                "Key": registered.payload["object_id"],
            },
        )
        publish_event(endpoints, "FileStagedForDownload", request.payload, key=file_id)
    except BaseException as error:  # reported by the test
        failures.append(error)


def test_uploaded_file_comes_back_through_the_archive(
    endpoints: dict[str, Any],
    operator: Operator,
    box: UploadBox,
    home: Path,
    tmp_path: Path,
) -> None:
    original = tmp_path / "reads.bam"
    original.write_bytes(os.urandom(3 * 65_536 + 4_321))
    stream = EventStream(endpoints, ["FileInternallyRegistered", "NonStagedFileRequested"])
    failures: list[BaseException] = []
    try:
        uploaded = run_cli(["upload", str(original)], connector_env(endpoints, box, home))
        assert uploaded.returncode == 0, uploaded.stderr
        listing = run_cli(["ls", "--json"], connector_env(endpoints, box, home))
        (file_id,) = [item["id"] for item in json.loads(listing.stdout)]
        registered = stream.wait_for("FileInternallyRegistered", file_id, timeout=180)
        assert registered.payload["decrypted_size"] == original.stat().st_size

        ifrs = threading.Thread(
            target=_stage_when_asked, args=(endpoints, stream, file_id, failures), daemon=True
        )
        ifrs.start()
        requester = make_keys(tmp_path / "requester")
        extensions = {file_id: ".bam"}
        package = download_package(operator, requester, [file_id], file_extensions=extensions)
        out = tmp_path / "out"
        out.mkdir()
        env = download_env(endpoints, package, home, FS_CONNECTOR_MAX_WAIT="120")
        result = run_download(env, out, "--decrypt")
        ifrs.join(timeout=130)
    finally:
        stream.close()
    assert not failures, failures
    assert result.exit_code == 0, result.stderr
    assert f"{file_id}: downloaded (" in result.stderr
    assert "sha-256 verified" in result.stderr
    assert (out / f"{file_id}.bam").read_bytes() == original.read_bytes()
    assert (out / f"{file_id}.bam.c4gh").exists()
