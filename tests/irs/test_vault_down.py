"""Vault down while an upload waits for interrogation, over the embedded stack.

EKSS answers 503; IRS must neither pass nor fail the file: the message is retried, lands in
the dead-letter queue after maxReceiveCount, and nothing half-done stays. When Vault is back,
the operator's redrive of the dead letters finishes the interrogation normally.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import hvac

from functions.irs.model import Interrogation
from shared.resources import dlq_name, queue_name
from tests.irs.helpers import PLAIN_PER_PART, Submission, list_secrets, random_bytes, unseal_key
from tests.support import EventStream, RunningStack, aws, queue_url, wait_until_drained


def _open_staging_uploads(s3: Any, bucket: str) -> set[str]:
    return {u["UploadId"] for u in s3.list_multipart_uploads(Bucket=bucket).get("Uploads", [])}


def _dead_letters(sqs: Any, url: str, file_id: str, timeout: float) -> list[dict]:
    """Take every dead letter about ``file_id`` out of the DLQ (bounded wait for the first)."""
    deadline = time.monotonic() + timeout
    found: list[dict] = []
    while True:
        messages = sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1, VisibilityTimeout=60
        ).get("Messages", [])
        found += [m for m in messages if file_id in m["Body"]]
        if found and not messages:
            return found
        assert time.monotonic() < deadline, f"no dead letter for {file_id} in {timeout:.0f}s"


def test_vault_down_is_retried_dead_lettered_and_finished_after_redrive(
    submit: Callable[..., Submission],
    events: EventStream,
    interrogations: Callable[[str], Interrogation | None],
    s3: Any,
    buckets: dict[str, str],
    vault: hvac.Client,
    endpoints: dict[str, Any],
    running_stack: RunningStack,
) -> None:
    prefix = endpoints["resource_prefix"]
    sqs = aws(endpoints, "sqs")
    main_url = queue_url(endpoints, queue_name("irs-inbox", prefix))
    dead_url = queue_url(endpoints, dlq_name("irs-inbox", prefix))
    secrets_before = list_secrets(vault)
    uploads_before = _open_staging_uploads(s3, buckets["staging"])
    key = unseal_key(running_stack.state_dir)
    vault.sys.seal()
    try:
        submission = submit(random_bytes(PLAIN_PER_PART + 77, seed=7))
        # five deliveries with the runtime's back-off (2+4+8+16+30 s), then the DLQ
        wait_until_drained(endpoints, queue_name("irs-inbox", prefix), timeout=180)
        dead = _dead_letters(sqs, dead_url, submission.file_id, timeout=30)
        item = interrogations(submission.file_id)
        assert item is not None and item.state == "running" and item.lease_owner is None
        assert item.secret_id is None and item.staging_upload_id is None
    finally:
        vault.sys.submit_unseal_key(key)
    events.settle()
    assert events.events(key=submission.file_id) == []
    assert list_secrets(vault) == secrets_before
    assert _open_staging_uploads(s3, buckets["staging"]) == uploads_before

    for message in dead:  # the operator redrives the dead letters
        sqs.send_message(QueueUrl=main_url, MessageBody=message["Body"])
        sqs.delete_message(QueueUrl=dead_url, ReceiptHandle=message["ReceiptHandle"])
    success = events.wait_for("FileInterrogationSuccess", submission.file_id, timeout=60)
    events.wait_for("FileInternallyRegistered", submission.file_id, timeout=60)
    assert success.payload["decrypted_size"] == len(submission.plain)
    events.settle()
    assert events.events("FileInterrogationFailure", submission.file_id) == []
    assert len(events.events("FileInterrogationSuccess", submission.file_id)) == 1
