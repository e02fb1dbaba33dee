"""Helpers for tests that talk to a running embedded stack over real HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from shared.crypt.keys import encode_key, generate_keypair
from shared.crypt.sealedbox import unseal
from testbed.events import MOTO_ACCOUNT, EventStream, aws, publish_event, stack_topic_arn  # noqa: F401
from testbed.process import StackProcess, start_stack_process

REPO = Path(__file__).resolve().parents[1]


RunningStack = StackProcess


def start_stack(state_dir: Path, *extra: str, timeout: float = 120) -> StackProcess:
    """Start ``fs-stack up`` in a subprocess and wait for its endpoints file.

    On the embedded backend (moto), not the command's default: several tests need the
    small parts moto takes (tests/seaweedfs starts its own stack on SeaweedFS)."""
    return start_stack_process(state_dir, "--backend", "embedded", *extra, timeout=timeout)


def require_seaweedfs() -> None:
    """Skip the test where SeaweedFS's ``weed`` is missing; in CI, fail it (CI must run it)."""
    import os

    import pytest

    from testbed import seaweedfs

    try:
        seaweedfs.binary()
    except seaweedfs.SeaweedFSMissing as error:
        if os.environ.get("CI"):
            pytest.fail(f"{error} (CI must run these tests)")
        pytest.skip(str(error))


def assert_error(response: httpx.Response, status: int, exception_id: str) -> dict[str, Any]:
    """The GHGA-style error body with this status and exception_id (and a description)."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"exception_id", "description", "data"}, body
    assert body["exception_id"] == exception_id, body
    assert body["description"]
    return body


@dataclass
class User:
    """A user's Crypt4GH key pair (raw keys) and the base64 public key."""

    private_key: bytes
    public_key: bytes

    @property
    def public_b64(self) -> str:
        return encode_key(self.public_key)

    @classmethod
    def new(cls) -> User:
        private, public = generate_keypair()
        return cls(private, public)


class Operator:
    """The archive operator's view of the stack (authenticated admin calls)."""

    def __init__(self, endpoints: dict[str, Any]) -> None:
        self.endpoints = endpoints
        self.http = httpx.Client(
            headers={"Authorization": f"Bearer {endpoints['operator_token']}"}, timeout=30
        )

    def create_box(self, max_size: int | None = None) -> str:
        body = {} if max_size is None else {"max_size": max_size}
        response = self.http.post(f"{self.endpoints['ucs_url']}/boxes", json=body)
        assert response.status_code == 201, response.text
        return response.json()["id"]

    def work_package(self, user: User, **body: Any) -> tuple[str, str]:
        """Create a work package; returns (package id, plain WPAT)."""
        response = self.http.post(
            f"{self.endpoints['wps_url']}/work-packages",
            json={"user_public_crypt4gh_key": user.public_b64, **body},
        )
        assert response.status_code == 201, response.text
        data = response.json()
        return data["id"], unseal(data["token"], user.private_key)

    def upload_package(self, user: User, box_id: str) -> tuple[str, str]:
        return self.work_package(user, type="upload", file_upload_box_id=box_id)

    def download_package(self, user: User, file_ids: list[str]) -> tuple[str, str]:
        return self.work_package(user, type="download", file_ids=file_ids)


def upload_wot(
    endpoints: dict[str, Any],
    user: User,
    package_id: str,
    wpat: str,
    box_id: str,
    work_type: str,
    **body: Any,
) -> str:
    """A plain (unsealed) upload work order token."""
    response = httpx.post(
        f"{endpoints['wps_url']}/work-packages/{package_id}/boxes/{box_id}/work-order-tokens",
        json={"work_type": work_type, **body},
        headers={"Authorization": f"Bearer {wpat}"},
    )
    assert response.status_code == 201, response.text
    return unseal(response.json(), user.private_key)


def download_wot(
    endpoints: dict[str, Any], user: User, package_id: str, wpat: str, file_id: str
) -> str:
    response = httpx.post(
        f"{endpoints['wps_url']}/work-packages/{package_id}/files/{file_id}/work-order-tokens",
        headers={"Authorization": f"Bearer {wpat}"},
    )
    assert response.status_code == 201, response.text
    return unseal(response.json(), user.private_key)


# ---------------------------------------------------------------- AWS side of the stack
# (the event tap lives in testbed/events.py: the journey uses it too)


def queue_url(endpoints: dict[str, Any], name: str) -> str:
    """URL of a queue of the stack by its concrete name (see shared.resources.queue_name)."""
    return aws(endpoints, "sqs").get_queue_url(QueueName=name)["QueueUrl"]


def wait_until_drained(endpoints: dict[str, Any], name: str, timeout: float = 60) -> None:
    """Wait (bounded) until a queue of the stack has no visible or in-flight messages."""
    import time

    sqs, url = aws(endpoints, "sqs"), queue_url(endpoints, name)
    deadline = time.monotonic() + timeout
    quiet = 0
    while quiet < 3:
        attributes = sqs.get_queue_attributes(
            QueueUrl=url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        busy = int(attributes["ApproximateNumberOfMessages"]) + int(
            attributes["ApproximateNumberOfMessagesNotVisible"]
        )
        quiet = 0 if busy else quiet + 1
        if time.monotonic() > deadline:
            raise AssertionError(f"queue {name} still has {busy} messages after {timeout:.0f}s")
        time.sleep(0.3)


@contextmanager
def consumers_paused(
    endpoints: dict[str, Any], *functions: str, drop: bool = False
) -> Iterator[None]:
    """The functions' queue consumers paused (testbed/runtime.py: once the pause answers,
    none of their handlers runs); ``drop``: at the end, what waits in their queues is
    deleted first, since the test played their part. Then they run again."""
    from shared.resources import DECLARATION, queue_name

    control = f"{endpoints['api_url']}/_runtime/consumers"
    for function in functions:
        assert httpx.post(f"{control}/{function}/pause", timeout=30).json()["paused"] is True
    try:
        yield
    finally:
        if drop:
            sqs = aws(endpoints, "sqs")
            for queue in DECLARATION.queues:
                if queue.consumer not in functions:
                    continue
                url = queue_url(endpoints, queue_name(queue.key, endpoints["resource_prefix"]))
                while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get(
                    "Messages", []
                ):
                    for message in messages:
                        sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        for function in functions:
            httpx.post(f"{control}/{function}/resume", timeout=30)
