"""The download audit over the real stack: FileDownloadServed counted after whole downloads
with our connector and with GHGA's, and after reads of /assembled, whole and partial.

One event per read (work package, file, reader key, access, range) within the audit window;
the fakes' tests (test_audit_fakes.py) pin the window and the failure paths.
"""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path
from typing import Any

from functions.dcs.store import DynamoDrsRepository
from shared.events import FileDownloadServed
from testbed.journey_base import audit_reads
from tests.compat.ghga import run_ghga, write_key_files
from tests.connector.download_helpers import download_env, download_package, run_download, stage
from tests.connector.helpers import make_keys
from tests.dcs.helpers import archived_file, put_in_outbox, register, report_staged, staged_file
from tests.support import EventStream, Operator, User

ENVELOPE = 124


def test_every_read_over_http_is_audited_once(
    endpoints: dict[str, Any], operator: Operator
) -> None:
    stream = EventStream(endpoints, ["FileDownloadServed"])
    try:
        f, requester = staged_file(endpoints, operator, os.urandom(150_000))  # one 200 inside
        total = ENVELOPE + len(f.content)
        for _ in range(2):  # each call with a fresh work order token, as GHGA's client does
            assert requester.drs(f.file_id).status_code == 200
            assert requester.envelope(f.file_id).status_code == 200
            assert requester.assembled(f.file_id).status_code == 200
            assert requester.assembled(f.file_id, "bytes=0-").status_code == 206  # the whole
            assert requester.assembled(f.file_id, "bytes=0-99").status_code == 206
            assert requester.assembled(f.file_id, "bytes=100-70099").status_code == 206
            assert requester.assembled(f.file_id, "bytes=-10").status_code == 206
            assert requester.assembled(f.file_id, method="HEAD").status_code == 200  # no read
            refused = requester.assembled(f.file_id, "bytes=0-99", accept="text/html")
            assert refused.status_code == 406  # nothing served: no read
        stream.settle()
        assert audit_reads(stream, f.file_id, requester.package_id) == {
            "drs_object": 1,
            "envelope": 1,
            "assembled": 1,
            "assembled 0-99": 1,
            "assembled 100-70099": 1,
            f"assembled {total - 10}-{total - 1}": 1,
        }
        fingerprint = hashlib.sha256(requester.user.public_key).hexdigest()
        for event in stream.events("FileDownloadServed", f.file_id):
            audit = FileDownloadServed.model_validate(event.payload)
            assert audit.user_id and audit.work_package_id == requester.package_id
            assert audit.reader_key_fingerprint == fingerprint
            assert requester.user.public_b64 not in str(event.payload)  # never the key itself
            assert audit.target_object_id == f.object_id
            expected_size = {"drs_object": len(f.content), "envelope": ENVELOPE}
            assert audit.size == expected_size.get(audit.access, total)
    finally:
        stream.close()


def test_another_requester_of_the_same_file_is_audited_apart(
    endpoints: dict[str, Any], operator: Operator
) -> None:
    from tests.dcs.helpers import Requester

    stream = EventStream(endpoints, ["FileDownloadServed"])
    try:
        f, first = staged_file(endpoints, operator, os.urandom(70_000))
        second = Requester(endpoints, operator, [f.file_id])
        for requester in (first, second, first, second):
            assert requester.assembled(f.file_id, "bytes=0-99").status_code == 206
        stream.settle()
        for requester in (first, second):
            reads = audit_reads(stream, f.file_id, requester.package_id)
            assert reads.get("assembled 0-99") == 1, reads
    finally:
        stream.close()


def test_a_whole_download_with_our_connector_is_one_drs_and_one_envelope_read(
    endpoints: dict[str, Any], operator: Operator, tmp_path: Path
) -> None:
    f = stage(endpoints, operator, os.urandom(300_000))
    keys = make_keys(tmp_path / "keys")
    package = download_package(operator, keys, [f.file_id])
    home, out = tmp_path / "home", tmp_path / "out"
    home.mkdir()
    out.mkdir()
    stream = EventStream(endpoints, ["FileDownloadServed"])
    try:
        # many small parallel ranges: they go to the presigned URL, none to DCS
        env = download_env(endpoints, package, home)
        result = run_download(env, out, "--decrypt", "--range-size", "65564")
        assert result.exit_code == 0, result.stdout + result.stderr
        stream.settle()
        assert audit_reads(stream, f.file_id, package.package_id) == {
            "drs_object": 1,
            "envelope": 1,
        }
    finally:
        stream.close()


def test_a_whole_download_with_ghga_s_client_is_one_drs_and_one_envelope_read(
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
    package_id = response.json()["id"]
    wpat = f"{package_id}:{response.json()['token']}"
    register(endpoints, f)
    stream = EventStream(endpoints, ["NonStagedFileRequested", "FileDownloadServed"])
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
        result = run_ghga(
            "download",
            "--output-dir",
            str(tmp_path / "out"),
            "--my-public-key-path",
            str(public),
            "--my-private-key-path",
            str(private),
            wkvs_url=endpoints["wkvs_url"],
            cwd=tmp_path,
            stdin=wpat + "\n",
            part_size=str(70_001),  # several range requests, all to the presigned URL
            max_wait_time="120",
        )
        ifrs.join(timeout=130)
        assert not failures, failures
        assert (tmp_path / "out" / f"{f.file_id}.bin.c4gh").exists(), result.stdout + result.stderr
        stream.settle()
        assert audit_reads(stream, f.file_id, package_id) == {"drs_object": 1, "envelope": 1}
    finally:
        stream.close()


def test_the_range_cap_and_the_window_hold_on_the_real_table(
    endpoints: dict[str, Any], operator: Operator, controller: Any
) -> None:
    """DCS's core in-process on the stack's DynamoDB and SNS, with a cap of two ranges."""
    from functions.dcs.model import Reader

    f, requester = staged_file(endpoints, operator, os.urandom(70_000))
    reader = Reader(
        requester.user.public_key, "cap-user", requester.package_id, requester.wot(f.file_id)
    )
    stream = EventStream(endpoints, ["FileDownloadServed"])
    try:
        dcs = controller(audit_max_ranges=2)
        for start in (0, 100, 200, 300, 0, 200):
            dcs.assembled(f.file_id, reader, f"bytes={start}-{start + 99}")
        stream.settle()
        mine = [
            e.payload
            for e in stream.events("FileDownloadServed", f.file_id)
            if e.payload["user_id"] == "cap-user"
        ]
        got = sorted((str(a["range_start"]), a["more_ranges"]) for a in mine)
        assert got == [("0", False), ("100", False), ("None", True)]  # two, one for the rest
    finally:
        stream.close()


class LosesConfirmations(DynamoDrsRepository):
    """The real table, but the confirmation of a published event is lost."""

    def confirm_audit(self, read_id: str, file_id: str) -> None:
        raise RuntimeError("DynamoDB is down")


def test_the_window_and_a_lost_confirmation_hold_on_the_real_table(
    endpoints: dict[str, Any], operator: Operator, controller: Any
) -> None:
    """The claims' conditions on DynamoDB itself: a read inside the window publishes
    nothing, after it again; an unconfirmed claim is claimed again."""
    from datetime import UTC, datetime, timedelta

    from functions.dcs.model import Reader

    f, requester = staged_file(endpoints, operator, os.urandom(5000))
    reader = Reader(requester.user.public_key, "window-user", requester.package_id)
    now = [datetime.now(UTC)]
    stream = EventStream(endpoints, ["FileDownloadServed"])
    try:
        dcs = controller(clock=lambda: now[0], audit_window_s=600)
        dcs.drs_object(f.file_id, reader)
        now[0] += timedelta(seconds=599)
        dcs.drs_object(f.file_id, reader)  # inside the window: nothing
        now[0] += timedelta(seconds=2)
        dcs.drs_object(f.file_id, reader)  # after it: the read again
        lost = controller(clock=lambda: now[0], audit_window_s=600, repo=LosesConfirmations())
        now[0] += timedelta(seconds=601)
        lost.drs_object(f.file_id, reader)  # published, not confirmed
        dcs.drs_object(f.file_id, reader)  # claimed again: published once more
        dcs.drs_object(f.file_id, reader)  # confirmed now: nothing
        stream.settle()
        mine = [
            e.payload
            for e in stream.events("FileDownloadServed", f.file_id)
            if e.payload["user_id"] == "window-user"
        ]
        assert len(mine) == 4 and len({a["read_id"] for a in mine}) == 1
    finally:
        stream.close()
