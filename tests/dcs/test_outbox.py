"""The outbox: copies gone or unused, stale staging requests, presigned URL lifetime.

Where time matters, DCS's core runs in the test process against the stack's real S3,
table and topics, with a clock moved forward; nothing here waits for the clock.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlparse

import httpx

from functions.dcs import wire
from functions.dcs.core import Served, Wait
from functions.dcs.model import REGISTERED, STAGED, STAGING, DrsObject, Reader
from functions.dcs.store import DynamoDrsRepository
from tests.dcs.helpers import (
    ArchivedFile,
    Requester,
    fake_file,
    in_outbox,
    outbox,
    put_in_outbox,
    register,
    report_staged,
    staged_file,
)
from tests.support import EventStream, Operator, aws

LATER = timedelta(days=2)  # beyond the stack's DCS_OUTBOX_MAX_AGE_S of one day


class OnlyThese(DynamoDrsRepository):
    """The real repository, but the clean-up sees only this test's files (others share the
    table), or the snapshot it was given, as if the file were listed just before a read."""

    def __init__(self, file_ids: set[str], snapshot: list[DrsObject] | None = None) -> None:
        self.file_ids = file_ids
        self.snapshot = snapshot

    def staged_unused_since(self, cutoff: datetime) -> Iterator[DrsObject]:
        if self.snapshot is not None:
            yield from self.snapshot
            return
        for item in super().staged_unused_since(cutoff):
            if item.file_id in self.file_ids:
                yield item


def _reader(requester: Requester) -> Reader:
    return Reader(requester.user.public_key, "test-user", requester.package_id)


def test_unused_copies_are_removed_and_staged_again_on_request(
    endpoints: dict[str, Any],
    operator: Operator,
    controller: Any,
    repository: DynamoDrsRepository,
) -> None:
    f, requester = staged_file(endpoints, operator, os.urandom(2000))
    later = datetime.now(UTC) + LATER
    listed = {item.file_id for item in repository.staged_unused_since(later)}
    assert f.file_id in listed  # the real index query finds it
    accessed = repository.get(f.file_id).last_accessed
    assert f.file_id not in {i.file_id for i in repository.staged_unused_since(accessed)}

    downloads = controller(clock=lambda: later, repo=OnlyThese({f.file_id}), outbox_max_age_s=86400)
    assert downloads.clean_outbox() == {"removed": 1, "in_use": 0, "failed": 0}
    assert not in_outbox(endpoints, f)
    assert repository.get(f.file_id).state == REGISTERED
    assert downloads.clean_outbox()["removed"] == 0  # nothing left to do

    stream = EventStream(endpoints, ["NonStagedFileRequested"])
    try:
        requester.wait_for(f.file_id, 202)
        stream.wait_for("NonStagedFileRequested", f.file_id)
    finally:
        stream.close()
    put_in_outbox(endpoints, f)
    report_staged(endpoints, f)
    requester.wait_for(f.file_id, 200)


def test_a_copy_requested_after_listing_is_kept(
    endpoints: dict[str, Any],
    operator: Operator,
    controller: Any,
    repository: DynamoDrsRepository,
) -> None:
    f, requester = staged_file(endpoints, operator, os.urandom(2000))
    listed = repository.get(f.file_id)
    assert listed is not None and listed.state == STAGED
    assert requester.drs(f.file_id).status_code == 200  # an access after the listing
    assert repository.unstage(listed) is False

    stale = OnlyThese({f.file_id}, snapshot=[listed])
    downloads = controller(clock=lambda: datetime.now(UTC) + LATER, repo=stale)
    assert downloads.clean_outbox() == {"removed": 0, "in_use": 1, "failed": 0}
    assert in_outbox(endpoints, f)
    assert requester.drs(f.file_id).status_code == 200


def test_the_scheduled_clean_up_spares_fresh_copies(
    endpoints: dict[str, Any], small: tuple[ArchivedFile, Requester]
) -> None:
    f, requester = small
    response = httpx.post(f"{endpoints['api_url']}/_runtime/schedules/dcs/clean_outbox")
    assert response.status_code == 200, response.text
    assert set(response.json()) == {"removed", "in_use", "failed"}
    assert in_outbox(endpoints, f)
    assert requester.drs(f.file_id).status_code == 200


def test_a_copy_that_vanished_is_staged_again(
    endpoints: dict[str, Any], operator: Operator
) -> None:
    f, requester = staged_file(endpoints, operator, os.urandom(2000))
    aws(endpoints, "s3").delete_object(Bucket=outbox(endpoints), Key=f.object_id)
    stream = EventStream(endpoints, ["NonStagedFileRequested"])
    try:
        assert requester.drs(f.file_id).status_code == 202
        assert requester.drs(f.file_id).status_code == 202
        stream.wait_for("NonStagedFileRequested", f.file_id)
        stream.settle()
        assert len(stream.events("NonStagedFileRequested", f.file_id)) == 1
    finally:
        stream.close()
    put_in_outbox(endpoints, f)
    report_staged(endpoints, f)
    requester.wait_for(f.file_id, 200)


def test_a_copy_of_the_wrong_size_is_replaced(
    endpoints: dict[str, Any], operator: Operator
) -> None:
    f, requester = staged_file(endpoints, operator, os.urandom(2000))
    s3 = aws(endpoints, "s3")
    s3.put_object(Bucket=outbox(endpoints), Key=f.object_id, Body=f.content[:-1])
    assert requester.drs(f.file_id).status_code == 202  # never hand out a broken copy
    assert not in_outbox(endpoints, f)


def test_an_unanswered_staging_request_is_made_again(
    endpoints: dict[str, Any],
    operator: Operator,
    controller: Any,
    repository: DynamoDrsRepository,
) -> None:
    f = fake_file()
    requester = Requester(endpoints, operator, [f.file_id])
    stream = EventStream(endpoints, ["NonStagedFileRequested"])
    try:
        register(endpoints, f, size=1000)
        requester.wait_for(f.file_id, 202)
        stream.wait_for("NonStagedFileRequested", f.file_id)
        first = repository.get(f.file_id)
        assert first is not None and first.state == STAGING

        in_time = controller(clock=lambda: first.staging_requested_at + timedelta(seconds=599))
        assert isinstance(in_time.drs_object(f.file_id, _reader(requester)), Wait)
        late = first.staging_requested_at + timedelta(seconds=601)
        again = controller(clock=lambda: late, staging_timeout_s=600)
        assert isinstance(again.drs_object(f.file_id, _reader(requester)), Wait)
        assert isinstance(again.drs_object(f.file_id, _reader(requester)), Wait)
        stream.settle()
        assert len(stream.events("NonStagedFileRequested", f.file_id)) == 2
        assert repository.get(f.file_id).staging_requested_at == late
    finally:
        stream.close()


def test_the_presigned_url_lifetime_is_configurable(
    controller: Any, small: tuple[ArchivedFile, Requester]
) -> None:
    # moto (5.2.5) checks neither the signature nor X-Amz-Expires of presigned URLs, so the
    # refusal after expiry cannot be observed here: the URL must carry the lifetime asked for
    f, requester = small
    for lifetime in (1, 60, 7200):
        served = controller(presigned_url_lifetime_s=lifetime).drs_object(
            f.file_id, _reader(requester)
        )
        assert isinstance(served, Served)
        url = wire.drs_object(served)["access_methods"][0]["access_url"]["url"]
        query = parse_qs(urlparse(url).query)
        assert query["X-Amz-Expires"] == [str(lifetime)]
        assert query["X-Amz-Date"] and query["X-Amz-Signature"]
