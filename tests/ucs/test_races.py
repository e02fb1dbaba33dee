"""Racing calls on one upload: exactly one wins, the other gets a clear 409.

Over HTTP the threads race for real, so which one wins varies; the tests assert what
must hold whichever does. The interleavings that matter most are then forced, in this
process, with the real core on the stack's real S3 and tables: one call is held at a
chosen step (by a wrapper that delegates to the real adapter) while the other runs.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from functions.ucs.core import UploadController
from functions.ucs.model import Checksums, NewUpload
from functions.ucs.store import DynamoUcsRepository
from shared.adapters.aws import client
from shared.adapters.s3 import S3Storage
from shared.errors import ServiceError
from tests.ucs.helpers import (
    PART_SIZE,
    TWO_PARTS,
    EventTap,
    Payload,
    Submitter,
    local_controller,
    object_etag,
    open_multipart_keys,
)


def race(*calls: Callable[[], httpx.Response]) -> list[httpx.Response]:
    barrier = threading.Barrier(len(calls))

    def run(call: Callable[[], httpx.Response]) -> httpx.Response:
        barrier.wait(timeout=30)
        return call()

    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(run, calls))


def assert_clear_conflict(response: httpx.Response) -> None:
    assert response.status_code == 409, response.text
    assert response.json()["exception_id"] == "fileUploadStateError"


@pytest.mark.parametrize("round_", range(5))
def test_two_concurrent_closes_one_wins(submitter: Submitter, tap: EventTap, round_: int) -> None:
    payload = Payload.random(TWO_PARTS)
    file_id = submitter.created(f"close-race-{round_}", payload)
    submitter.put_parts(file_id, payload)
    # the two closes declare different plaintext checksums: a repeat could not pass as a retry
    bodies = [payload.close_body(decrypted_sha256=c * 64) for c in ("a", "b")]
    tokens = [submitter.wot("close", file_id=file_id) for _ in bodies]
    first, second = race(
        *(
            lambda b=b, t=t: submitter.close(file_id, b, token=t)
            for b, t in zip(bodies, tokens, strict=True)
        )
    )
    outcomes = sorted([first.status_code, second.status_code])
    assert outcomes == [204, 409], (first.text, second.text)
    winner = bodies[0] if first.status_code == 204 else bodies[1]
    assert_clear_conflict(first if first.status_code == 409 else second)
    status = submitter.status(file_id)
    assert status["state"] == "inbox"
    assert status["decrypted_sha256"] == winner["decrypted_sha256"]
    assert object_etag(submitter.endpoints, file_id) == winner["encrypted_md5"]
    [event] = tap.of("FileUploadReceived", file_id)
    assert event["payload"]["decrypted_sha256"] == winner["decrypted_sha256"]


@pytest.mark.parametrize("round_", range(5))
def test_close_racing_delete_never_both_win_on_one_state(submitter: Submitter, round_: int) -> None:
    payload = Payload.random(TWO_PARTS)
    file_id = submitter.created(f"close-delete-{round_}", payload)
    submitter.put_parts(file_id, payload)
    close_token = submitter.wot("close", file_id=file_id)
    delete_token = submitter.wot("delete", file_id=file_id)
    closed, deleted = race(
        lambda: submitter.close(file_id, payload.close_body(), token=close_token),
        lambda: submitter.delete(file_id, token=delete_token),
    )
    if deleted.status_code == 500:
        # moto (not S3) can fail an abort that overlaps a completion; the state had already
        # moved, and GHGA's client retries a 500, which must then converge
        deleted = submitter.delete(file_id)
    state = submitter.status(file_id)["state"]
    etag = object_etag(submitter.endpoints, file_id)
    still_open = file_id in open_multipart_keys(submitter.endpoints)
    if closed.status_code == 204 and deleted.status_code == 409:  # close won
        assert_clear_conflict(deleted)
        assert state == "inbox"
        assert etag == payload.close_body()["encrypted_md5"]
    elif deleted.status_code == 204 and closed.status_code == 409:  # delete won
        assert_clear_conflict(closed)
        assert state == "cancelled"
        assert etag is None
    else:  # no overlap at all: the close finished before the delete looked
        assert (closed.status_code, deleted.status_code) == (204, 204), (closed.text, deleted.text)
        assert state == "cancelled"
        assert etag is None
    assert not still_open


# ------------------------------------------------------------------ forced interleavings


class Held:
    """Delegates to ``inner``; the call to ``method`` stops (after or before running)."""

    def __init__(self, inner: Any, method: str, after: bool = True) -> None:
        self._inner = inner
        self._method = method
        self._after = after
        self.reached = threading.Event()
        self.release = threading.Event()

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._inner, name)
        if name != self._method:
            return attribute

        def held(*args: Any, **kwargs: Any) -> Any:
            if not self._after:
                self._hold()
            result = attribute(*args, **kwargs)
            if self._after:
                self._hold()
            return result

        return held

    def _hold(self) -> None:
        self.reached.set()
        assert self.release.wait(30), "the test never released the held call"


def in_thread(call: Callable[[], Any]) -> Callable[[], Any]:
    """Start ``call``; the returned function waits for it and gives its result or error."""
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["result"] = call()
        except ServiceError as error:
            outcome["error"] = error

    thread = threading.Thread(target=run)
    thread.start()

    def join() -> Any:
        thread.join(timeout=60)
        assert not thread.is_alive()
        return outcome

    return join


def prepared(submitter: Submitter, alias: str) -> tuple[str, Payload]:
    payload = Payload.random(TWO_PARTS)
    file_id = submitter.created(alias, payload)
    submitter.put_parts(file_id, payload)
    return file_id, payload


def closing(core: UploadController, submitter: Submitter, file_id: str, body: dict) -> Any:
    key = submitter.user.public_b64
    return lambda: core.close(submitter.box_id, file_id, Checksums(**body), key)


def test_delete_after_close_completed_the_object_wins(submitter: Submitter) -> None:
    file_id, payload = prepared(submitter, "held-close.bin")
    storage = Held(S3Storage(client("s3")), "complete_multipart")
    core = local_controller(submitter.endpoints, storage=storage)
    join = in_thread(closing(core, submitter, file_id, payload.close_body()))
    assert storage.reached.wait(30)  # S3 has the whole object; the state is still init
    assert submitter.delete(file_id).status_code == 204
    storage.release.set()
    outcome = join()
    assert outcome["error"].status == 409
    assert outcome["error"].exception_id == "fileUploadStateError"
    assert submitter.status(file_id)["state"] == "cancelled"
    assert object_etag(submitter.endpoints, file_id) is None  # the loser removed it
    assert file_id not in open_multipart_keys(submitter.endpoints)


def test_two_creates_of_one_alias_cannot_both_win(submitter: Submitter) -> None:
    payload = Payload.random(100)
    before = open_multipart_keys(submitter.endpoints)
    repository = Held(DynamoUcsRepository(), "create_upload", after=False)
    core = local_controller(submitter.endpoints, repository=repository)
    request = NewUpload("same.txt", payload.decrypted_size, payload.encrypted_size, PART_SIZE)
    join = in_thread(lambda: core.create_upload(submitter.box_id, request))
    assert repository.reached.wait(30)  # checked the alias, started its multipart upload
    winner = submitter.created("same.txt", payload)
    repository.release.set()
    outcome = join()
    assert outcome["error"].exception_id == "fileUploadAlreadyExists"
    assert outcome["error"].data == {"file_id": winner, "state": "init"}
    # the loser's multipart upload was aborted; only the winner's is open
    assert open_multipart_keys(submitter.endpoints) - before == {winner}
    [item] = submitter.list().json()["items"]
    assert item["id"] == winner
    assert submitter.box()["open_upload_count"] == 1


def test_lock_while_closing_refuses_the_close_until_unlocked(submitter: Submitter) -> None:
    file_id, payload = prepared(submitter, "held-lock.bin")
    storage = Held(S3Storage(client("s3")), "complete_multipart")
    core = local_controller(submitter.endpoints, storage=storage)
    join = in_thread(closing(core, submitter, file_id, payload.close_body()))
    assert storage.reached.wait(30)
    box_url = f"{submitter.endpoints['ucs_url']}/boxes/{submitter.box_id}"
    assert submitter.operator.http.patch(box_url, json={"locked": True}).status_code == 200
    storage.release.set()
    outcome = join()
    assert outcome["error"].exception_id == "boxStateError"
    assert submitter.status(file_id)["state"] == "init"
    assert submitter.box()["open_upload_count"] == 1
    # S3 already completed the object; after unlocking, the retried close converges on it
    assert submitter.operator.http.patch(box_url, json={"locked": False}).status_code == 200
    assert submitter.close(file_id, payload.close_body()).status_code == 204
    assert submitter.status(file_id)["state"] == "inbox"


def test_delete_while_close_checked_the_parts_wins(submitter: Submitter) -> None:
    file_id, payload = prepared(submitter, "held-check.bin")
    storage = Held(S3Storage(client("s3")), "list_parts")
    core = local_controller(submitter.endpoints, storage=storage)
    join = in_thread(closing(core, submitter, file_id, payload.close_body()))
    assert storage.reached.wait(30)  # the parts are checked; the delete aborts the upload
    assert submitter.delete(file_id).status_code == 204
    storage.release.set()
    outcome = join()
    # S3 no longer knows the upload, but the answer is the state, not a storage error
    assert outcome["error"].exception_id == "fileUploadStateError"
    assert outcome["error"].data == {"state": "cancelled"}
    assert object_etag(submitter.endpoints, file_id) is None
    assert file_id not in open_multipart_keys(submitter.endpoints)


def test_close_while_delete_was_deciding_wins(submitter: Submitter) -> None:
    file_id, payload = prepared(submitter, "held-delete.bin")
    repository = Held(DynamoUcsRepository(), "transition", after=False)
    core = local_controller(submitter.endpoints, repository=repository)
    join = in_thread(lambda: core.delete(submitter.box_id, file_id))
    assert repository.reached.wait(30)  # the delete saw "init" and is about to write
    assert submitter.close(file_id, payload.close_body()).status_code == 204
    repository.release.set()
    outcome = join()
    assert outcome["error"].exception_id == "fileUploadStateError"
    assert outcome["error"].data == {"state": "inbox"}
    assert submitter.status(file_id)["state"] == "inbox"
    assert object_etag(submitter.endpoints, file_id) == payload.close_body()["encrypted_md5"]


def test_second_close_finding_the_object_completed_loses_cleanly(
    submitter: Submitter, tap: EventTap
) -> None:
    file_id, payload = prepared(submitter, "held-second-close.bin")
    storage = Held(S3Storage(client("s3")), "list_parts")
    core = local_controller(submitter.endpoints, storage=storage)
    late = payload.close_body(decrypted_sha256="c" * 64)
    join = in_thread(closing(core, submitter, file_id, late))
    assert storage.reached.wait(30)  # parts checked, not yet completed
    assert submitter.close(file_id, payload.close_body()).status_code == 204
    storage.release.set()
    outcome = join()
    assert outcome["error"].exception_id == "fileUploadStateError"
    status = submitter.status(file_id)
    assert status["state"] == "inbox"
    assert status["decrypted_sha256"] == payload.close_body()["decrypted_sha256"]
    # the winner's object stays: the loser only removes objects of cancelled uploads
    assert object_etag(submitter.endpoints, file_id) == payload.close_body()["encrypted_md5"]
    assert len(tap.of("FileUploadReceived", file_id)) == 1


def test_close_repeated_after_dying_between_complete_and_record_converges(
    submitter: Submitter, tap: EventTap
) -> None:
    file_id, payload = prepared(submitter, "crash.bin")
    body = payload.close_body()

    class Crash(Exception):
        pass

    class DiesAfterComplete(S3Storage):
        def complete_multipart(self, *args: Any, **kwargs: Any) -> str:
            super().complete_multipart(*args, **kwargs)
            raise Crash  # the function dies with S3 done and the record untouched

    dying = local_controller(submitter.endpoints, storage=DiesAfterComplete(client("s3")))
    with pytest.raises(Crash):
        closing(dying, submitter, file_id, body)()
    assert submitter.status(file_id)["state"] == "init"
    assert object_etag(submitter.endpoints, file_id) == body["encrypted_md5"]

    assert submitter.close(file_id, body).status_code == 204  # the client's retry
    assert submitter.status(file_id)["state"] == "inbox"
    assert len(tap.of("FileUploadReceived", file_id)) == 1


def test_close_repeated_after_dying_before_publishing_publishes(
    submitter: Submitter, tap: EventTap
) -> None:
    file_id, payload = prepared(submitter, "unannounced.bin")
    body = payload.close_body()

    class Down(Exception):
        pass

    class BrokenPublisher:
        def publish(self, event: object, key: str | None = None) -> str:
            raise Down

    silent = local_controller(submitter.endpoints, publisher=BrokenPublisher())
    closing(silent, submitter, file_id, body)()  # recorded, so a success; the event is owed
    assert submitter.status(file_id)["state"] == "inbox"
    assert tap.of("FileUploadReceived", file_id) == []

    assert submitter.close(file_id, body).status_code == 204  # the client's retry
    assert len(tap.of("FileUploadReceived", file_id)) == 1
    assert submitter.close(file_id, body).status_code == 204
    assert len(tap.of("FileUploadReceived", file_id)) == 1  # announced once is enough
