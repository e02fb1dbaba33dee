"""The kill-point sweep: interrogation and registration killed after every external call.

IRS and IFRS run in-process over the stack's S3, DynamoDB and EKSS (OpenBao behind it). Every
port they are given (IRS: storage, keys, publisher, repository, continuations; IFRS: storage,
publisher, repository) goes through one counter that raises ``Crash``, a BaseException that
no handler catches, right AFTER the N-th call of the run returned: the effect of that call
happened, nothing after it did, as when Lambda kills an invocation. The queues are modelled by
a mailbox that removes a message only once its handler returned, so a killed message is
redelivered, with a clock moved past every lease, until the file is registered. For every N
up to the calls of a clean run, what is left must be what one clean run leaves: one secret
(the one every run received), no open multipart upload, nothing in staging (no staged part
manifest either), no staged part items of IRS's, one permanent object with the bytes a
clean run stores. Every N gets a fresh upload (its own file id, so its
own secret) of the same content; nonces are derived from the secret (shared/crypt/reencrypt.py),
so "the same bytes" is the body re-encrypted under the file's secret, computed here.
A redelivery that raises counts as a failure too: past every lease, nothing should.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import hvac
import pytest

from functions.ifrs.copier import Copier
from functions.ifrs.core import Registry
from functions.ifrs.model import REGISTERED, CopySettings
from functions.ifrs.store import DynamoFileRepository, FileRecord
from functions.irs.core import Interrogator
from functions.irs.model import SUCCEEDED, Settings, Upload
from functions.irs.store import DynamoInterrogationRepository
from functions.irs.wire import Continuation, parse
from shared.adapters.dynamo import bind
from shared.adapters.s3 import S3Storage
from shared.crypt import c4gh
from shared.crypt.c4gh import MIN_ALIGNED_PART_SIZE
from shared.crypt.keys import decode_key, generate_keypair
from shared.crypt.reencrypt import Reencryptor
from shared.crypt.resumable_sha256 import ResumableSha256
from shared.events import EventSchema, FileInterrogationSuccess
from shared.manifest import manifest_key
from shared.resources import bucket_name, table_name
from tests.fakes import RecordingQueue
from tests.irs.helpers import PLAIN_PER_PART, list_secrets, random_bytes, secret_exists
from tests.irs.inprocess import Crash, Harness, InProcessEkss

MAX_REDELIVERIES = 5


class KillSwitch:
    """Counts one run's external calls over all wrapped ports; kills right after call N.

    Once killed the run is dead: any later call (another thread of the same invocation)
    raises Crash as well, without reaching the service.
    """

    def __init__(self, kill_at: int | None) -> None:
        self.kill_at = kill_at
        self.calls: list[str] = []
        self.dead = False
        self._lock = threading.Lock()

    def call(self, label: str, method: Callable[..., Any], args: Any, kwargs: Any) -> Any:
        with self._lock:
            if self.dead:
                raise Crash(f"dead before {label}")
        result = method(*args, **kwargs)
        with self._lock:
            if self.dead:
                raise Crash(f"dead after {label}")
            self.calls.append(label)
            if len(self.calls) == self.kill_at:
                self.dead = True
                raise Crash(f"killed after call {self.kill_at}: {label}")
        return result


class Counted:
    """A port whose every public method call goes through the kill switch."""

    def __init__(self, target: Any, name: str, switch: KillSwitch) -> None:
        self._target, self._name, self._switch = target, name, switch

    def __getattr__(self, attribute: str) -> Any:
        value = getattr(self._target, attribute)
        if attribute.startswith("_") or not callable(value):
            return value

        def call(*args: Any, **kwargs: Any) -> Any:
            return self._switch.call(f"{self._name}.{attribute}", value, args, kwargs)

        return call


class ManualClock:
    """The services' clock; a redelivery moves it past every lease taken before."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def pass_leases(self) -> None:
        self.now += timedelta(hours=1)


@dataclass
class Mailbox:
    """The queues of one file: a message leaves only once its handler returned (at least
    once); what the services publish or send lands here, and what they received is kept."""

    messages: list[tuple[str, Any]] = field(default_factory=list)
    published: list[EventSchema] = field(default_factory=list)
    secret_ids: list[str] = field(default_factory=list)


class Topics:
    """EventPublisher: FileInterrogationSuccess goes to IFRS's queue, everything is kept."""

    def __init__(self, mailbox: Mailbox) -> None:
        self._mailbox = mailbox

    def publish(self, event: EventSchema, key: str | None = None) -> str:
        self._mailbox.published.append(event)
        if isinstance(event, FileInterrogationSuccess):
            self._mailbox.messages.append(("register", event))
        return f"event-{len(self._mailbox.published)}"


class ContinuationQueue:
    """MessageSender: IRS's continuations go back into the mailbox."""

    def __init__(self, mailbox: Mailbox) -> None:
        self._mailbox = mailbox

    def send(self, body: str, delay_s: int = 0) -> str:
        self._mailbox.messages.append(("continue", body))
        return f"message-{len(self._mailbox.messages)}"


class RecordingKeys:
    """The real EKSS client; the secret ids handed to IRS are kept (killed runs' too)."""

    def __init__(self, ekss: InProcessEkss, mailbox: Mailbox) -> None:
        self._ekss, self._mailbox = ekss, mailbox

    def create_secret(self, *args: Any, **kwargs: Any) -> Any:
        secrets = self._ekss.create_secret(*args, **kwargs)
        self._mailbox.secret_ids.append(secrets.secret_id)
        return secrets

    def __getattr__(self, attribute: str) -> Any:
        return getattr(self._ekss, attribute)


@dataclass(frozen=True)
class Stack:
    """What the services run over: the stack's buckets, tables and EKSS."""

    harness: Harness
    ekss: InProcessEkss
    staging: str
    permanent: str

    @property
    def s3(self) -> Any:
        return self.harness.s3

    def services(
        self, mailbox: Mailbox, switch: KillSwitch, clock: ManualClock
    ) -> tuple[Interrogator, Registry]:
        def count(target: Any, name: str) -> Any:
            return Counted(target, name, switch)

        irs = Interrogator(
            storage=count(S3Storage(self.s3), "irs.storage"),
            keys=count(RecordingKeys(self.ekss, mailbox), "irs.keys"),
            publisher=count(Topics(mailbox), "irs.publisher"),
            repository=count(DynamoInterrogationRepository(), "irs.repository"),
            continuations=count(ContinuationQueue(mailbox), "irs.continuations"),
            settings=Settings(
                inbox_bucket=self.harness.inbox,
                staging_bucket=self.staging,
                max_staging_part_size=MIN_ALIGNED_PART_SIZE,
                max_parts_per_invocation=1,  # hands on after each part: continuations too
            ),
            clock=clock,
        )
        ifrs_storage = count(S3Storage(self.s3), "ifrs.storage")
        registry = Registry(
            storage=ifrs_storage,
            publisher=count(Topics(mailbox), "ifrs.publisher"),
            repository=count(DynamoFileRepository(), "ifrs.repository"),
            staging_bucket=self.staging,
            permanent_bucket=self.permanent,
            # the copy's part calls count (and are killed after) as IFRS's storage calls
            copier=Copier(storage=ifrs_storage, settings=CopySettings()),
            continuations=RecordingQueue(),  # a file this small is never handed on
            clock=clock,
        )
        return irs, registry

    def open_uploads(self) -> set[tuple[str, str, str]]:
        found = set()
        for bucket in (self.staging, self.permanent):
            listed = self.s3.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
            found |= {(bucket, u["Key"], u["UploadId"]) for u in listed}
        return found

    def keys(self, bucket: str) -> set[str]:
        paginator = self.s3.get_paginator("list_objects_v2")
        return {
            entry["Key"]
            for page in paginator.paginate(Bucket=bucket)
            for entry in page.get("Contents", [])
        }


def deliver(stack: Stack, mailbox: Mailbox, switch: KillSwitch, clock: ManualClock) -> None:
    """Handle the file's messages in order until none is left (or the run is killed)."""
    irs, registry = stack.services(mailbox, switch, clock)
    while mailbox.messages:
        kind, body = mailbox.messages[0]
        if kind == "object":
            irs.object_created(*body)
        elif kind == "upload":
            irs.upload_received(body)
        elif kind == "continue":
            message = parse(body)
            assert isinstance(message, Continuation)
            irs.resume(message.object_key)
        else:
            registry.register(body)
        mailbox.messages.pop(0)  # deleted from its queue only once the handler returned


@dataclass
class File:
    plain: bytes
    data: bytes
    session_key: bytes
    submitter_public: bytes


@dataclass
class Outcome:
    calls: list[str]  # of the first run (the killed one, or the clean one)
    killed: bool
    redeliveries: int
    problems: list[str]
    permanent: bytes | None = None


def run_file(stack: Stack, vault: hvac.Client, file: File, kill_at: int | None) -> Outcome:
    """Interrogate and register one fresh upload of ``file``, killed after call ``kill_at``,
    redelivered until registered; what breaks an invariant is returned, not raised."""
    secrets_before = list_secrets(vault)
    uploads_before = stack.open_uploads()
    staging_before = stack.keys(stack.staging)
    permanent_before = stack.keys(stack.permanent)
    upload: Upload = stack.harness.upload(file.data, file.plain, file.submitter_public)
    mailbox = Mailbox([("object", (upload.object_id, len(file.data))), ("upload", upload)])
    clock = ManualClock()
    switch = KillSwitch(kill_at)
    problems: list[str] = []
    killed = False
    try:
        deliver(stack, mailbox, switch, clock)
    except Crash:
        killed = True
    redeliveries = 0
    while mailbox.messages and redeliveries < MAX_REDELIVERIES:
        redeliveries += 1
        clock.pass_leases()
        try:
            deliver(stack, mailbox, KillSwitch(None), clock)
        except Exception as error:  # the queue retries; too many retries fail the file
            problems.append(f"redelivery {redeliveries} raised {error!r}")
    outcome = Outcome(list(switch.calls), killed, redeliveries, problems)
    if mailbox.messages:
        problems.append(f"not done after {redeliveries} redeliveries: {mailbox.messages}")
        return outcome

    interrogation = stack.harness.repository.get(upload.object_id)
    registration = DynamoFileRepository().get(upload.file_id)
    if interrogation is None or interrogation.state != SUCCEEDED:
        problems.append(f"interrogation not succeeded: {interrogation and interrogation.state}")
    if registration is None or registration.state != REGISTERED:
        problems.append("file not registered")
        return outcome

    # exactly one secret for the file, the one everybody got
    ids = set(mailbox.secret_ids)
    new_secrets = list_secrets(vault) - secrets_before
    secret_id = registration.interrogation["secret_id"]
    if ids != {secret_id}:
        problems.append(f"runs received secrets {sorted(ids)}, registered {secret_id}")
    if new_secrets != {secret_id}:
        problems.append(f"{len(new_secrets)} secrets created for the file: {sorted(new_secrets)}")
    if not secret_exists(vault, secret_id):
        problems.append("the registered secret is not in Vault")

    # nothing left behind
    left_open = stack.open_uploads() - uploads_before
    if left_open:
        problems.append(f"open multipart uploads left: {sorted(left_open)}")
    left_staged = stack.keys(stack.staging) - staging_before
    if left_staged:
        problems.append(f"objects left in staging: {sorted(left_staged)}")
    left_parts = stack.harness.repository.parts(upload.object_id)
    if left_parts:  # IRS's part items go once the staged manifest holds them
        problems.append(f"{len(left_parts)} staged part items left")
    new_permanent = stack.keys(stack.permanent) - permanent_before
    # the registered object and, beside it, its part manifest (IFRS copies it from staging)
    if new_permanent != {registration.object_id, manifest_key(registration.object_id)}:
        problems.append(f"permanent objects {sorted(new_permanent)}, registered one only")

    # the permanent object is what a clean run stages: the same body under the file's secret
    stored = stack.s3.get_object(Bucket=stack.permanent, Key=registration.object_id)["Body"].read()
    outcome.permanent = stored
    if secret_exists(vault, secret_id):
        new_secret = stack.ekss.stored_secret(secret_id)
        offset = registration.interrogation["offset"]
        expected = Reencryptor(file.session_key, new_secret).part(
            file.data[offset:], 0, ResumableSha256()
        )
        if stored != bytes(expected.data):
            problems.append("the permanent object differs from a clean run's")
        elif c4gh.decrypt_body(stored, [new_secret]) != file.plain:
            problems.append("the permanent object does not decrypt to the file")
    registered = [e for e in mailbox.published if type(e).__name__ == "FileInternallyRegistered"]
    if {e.object_id for e in registered} != {registration.object_id}:  # type: ignore[attr-defined]
        problems.append(f"FileInternallyRegistered for {len(registered)} objects")
    return outcome


@pytest.fixture
def stack(harness: Harness, ekss: InProcessEkss, endpoints: dict[str, Any]) -> Iterator[Stack]:
    prefix = endpoints["resource_prefix"]
    bind(FileRecord, table_name("files", prefix))
    yield Stack(harness, ekss, bucket_name("staging", prefix), bucket_name("permanent", prefix))


@pytest.fixture(scope="module")
def small_file(endpoints: dict[str, Any]) -> File:
    """Two staged parts (the smallest S3 allows a part to be, then a few segments more)."""
    plain = random_bytes(PLAIN_PER_PART + 3 * c4gh.SEGMENT_SIZE + 17, seed=31)
    submitter_private, submitter_public = generate_keypair()
    session_key = os.urandom(32)
    archive_public = decode_key(endpoints["archive_public_key"])
    data = c4gh.make_header(session_key, submitter_private, archive_public) + c4gh.encrypt_body(
        plain, session_key
    )
    return File(plain, data, session_key, submitter_public)


def test_every_kill_point_ends_as_one_clean_run(
    stack: Stack, vault: hvac.Client, small_file: File
) -> None:
    clean = run_file(stack, vault, small_file, kill_at=None)
    assert not clean.killed and clean.redeliveries == 0
    assert clean.problems == []
    assert clean.permanent is not None
    labels = set(clean.calls)
    # every port of both services was called: the sweep kills after each kind of call
    for port in (
        "irs.storage",
        "irs.keys",
        "irs.publisher",
        "irs.repository",
        "irs.continuations",
        "ifrs.storage",
        "ifrs.publisher",
        "ifrs.repository",
    ):
        assert any(label.startswith(port + ".") for label in labels), port

    failures: dict[str, list[str]] = {}
    kill_at = 0
    while True:
        kill_at += 1
        outcome = run_file(stack, vault, small_file, kill_at=kill_at)
        if not outcome.killed:  # the run made fewer than kill_at calls: every point is covered
            break
        if outcome.problems:
            failures[f"N={kill_at} after {outcome.calls[-1]}"] = outcome.problems
        assert kill_at <= 2 * len(clean.calls), "the runs never end"
    covered = kill_at - 1
    print(f"kill points covered: {covered}; a clean run's {len(clean.calls)} calls: {clean.calls}")
    assert covered >= len(clean.calls)
    assert failures == {}, "\n".join(f"{point}: {problems}" for point, problems in failures.items())
