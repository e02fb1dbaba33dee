"""Continuation and crash recovery, driven in-process against the stack's S3, DynamoDB and
EKSS (tests/irs/inprocess.py): the core runs here so that a test can stop it where a Lambda
would die, and decide when the next invocation runs.
"""

from __future__ import annotations

import hashlib
import os
from typing import Any

import hvac
import pytest

from functions.irs.errors import part_mismatch
from shared.crypt import c4gh
from shared.crypt.keys import generate_keypair
from shared.ports import KeyStoreUnavailable
from tests.irs.helpers import PLAIN_PER_PART, random_bytes, secret_exists, unseal_key
from tests.irs.inprocess import Crash, CrashingStorage, FixedKeyStore, Harness, InProcessEkss, later
from tests.support import RunningStack


def test_one_pass_many_invocations_and_a_crash_stage_identical_bytes(
    harness: Harness,
) -> None:
    plain = random_bytes(3 * PLAIN_PER_PART + 4321, seed=11)  # four staged parts
    submitter_private, submitter_public = generate_keypair()
    session_key, new_secret = os.urandom(32), os.urandom(32)
    data = c4gh.make_header(
        session_key, submitter_private, harness.archive_public
    ) + c4gh.encrypt_body(plain, session_key)
    keys = FixedKeyStore(session_key, new_secret)

    one_pass = harness.upload(data, plain, submitter_public)
    harness.start(harness.irs(keys), one_pass, len(data))
    assert harness.queue.sent == []

    many = harness.upload(data, plain, submitter_public)
    stepwise = harness.irs(keys, max_parts=1)
    harness.start(stepwise, many, len(data))
    assert harness.drain(stepwise) == 3  # one part per invocation: 1 + 3 continuations

    crashed = harness.upload(data, plain, submitter_public)
    dying = harness.irs(keys, storage=CrashingStorage(harness.s3, part=3))
    with pytest.raises(Crash):
        harness.start(dying, crashed, len(data))
    item = harness.record(crashed)
    assert item.state == "running" and item.parts_staged == 2 and item.lease_owner is not None
    # part 3 was uploaded, its item not written: the checkpoint and the items agree
    assert [p.number for p in harness.repository.parts(crashed.object_id)] == [1, 2]
    harness.irs(keys).resume(crashed.object_id)  # the lease is still taken: nothing happens
    assert harness.record(crashed).parts_staged == 2
    harness.irs(keys, clock=later).resume(crashed.object_id)

    results = [harness.outcome(upload) for upload in (one_pass, many, crashed)]
    assert [kind for kind, _ in results] == ["FileInterrogationSuccess"] * 3
    staged = [harness.staged(payload) for _, payload in results]
    assert staged[0] == staged[1] == staged[2]
    ids = ("file_id", "box_id", "staged_object_id", "parts_manifest")
    facts = [{k: v for k, v in p.items() if k not in ids} for _, p in results]
    assert facts[0] == facts[1] == facts[2]
    # the manifests are byte-identical too (beside each staged object, under its own key)
    refs = [{k: v for k, v in p["parts_manifest"].items() if k != "key"} for _, p in results]
    assert refs[0] == refs[1] == refs[2] and refs[0]["parts"] == 4
    assert [harness.manifest(p).size for _, p in results] == [len(staged[0])] * 3
    assert facts[0]["decrypted_sha256"] == hashlib.sha256(plain).hexdigest()
    assert c4gh.decrypt_body(staged[0], [new_secret]) == plain


def test_killed_invocation_resumes_with_the_real_key_store(
    harness: Harness, ekss: InProcessEkss, vault: hvac.Client, endpoints: dict[str, Any]
) -> None:
    plain = random_bytes(3 * PLAIN_PER_PART + 99, seed=12)
    submitter_private, submitter_public = generate_keypair()
    data = c4gh.make_header(
        session := os.urandom(32), submitter_private, harness.archive_public
    ) + c4gh.encrypt_body(plain, session)
    upload = harness.upload(data, plain, submitter_public)

    def die_after_second(part: int) -> None:
        if part == 2:
            raise Crash("killed after the checkpoint of part 2")

    first = harness.irs(ekss, max_parts=1, after_part=die_after_second)
    harness.start(first, upload, len(data))  # part 1, then hands on
    with pytest.raises(Crash):
        harness.drain(first)  # the continuation stages part 2 and dies
    item = harness.record(upload)
    assert item.parts_staged == 2 and item.lease_owner is not None and item.secret_id
    assert harness.publisher.events == []

    # the redelivered message, after the lease ran out; the secrets come back from EKSS
    harness.irs(ekss, clock=later).resume(upload.object_id)
    kind, payload = harness.outcome(upload)
    assert kind == "FileInterrogationSuccess"
    assert payload["secret_id"] == item.secret_id and secret_exists(vault, item.secret_id)
    stored_secret = ekss.stored_secret(item.secret_id)  # as EKSS keeps it
    assert c4gh.decrypt_body(harness.staged(payload), [stored_secret]) == plain
    assert harness.record(upload).state == "succeeded"


def test_key_store_outage_mid_file_is_retried_not_blamed_on_the_file(
    harness: Harness,
    ekss: InProcessEkss,
    vault: hvac.Client,
    running_stack: RunningStack,
) -> None:
    plain = random_bytes(PLAIN_PER_PART + 5, seed=13)
    submitter_private, submitter_public = generate_keypair()
    data = c4gh.make_header(
        session := os.urandom(32), submitter_private, harness.archive_public
    ) + c4gh.encrypt_body(plain, session)
    upload = harness.upload(data, plain, submitter_public)
    irs = harness.irs(ekss, max_parts=1)
    harness.start(irs, upload, len(data))
    assert len(harness.queue.sent) == 1
    key = unseal_key(running_stack.state_dir)
    vault.sys.seal()
    try:
        with pytest.raises(KeyStoreUnavailable):
            harness.drain(irs)
        item = harness.record(upload)
        # the checkpoint stands, the lease is free for the retry, nothing was published
        assert item.state == "running" and item.parts_staged == 1 and item.lease_owner is None
        parts = harness.s3.list_parts(
            Bucket=harness.staging, Key=item.staged_object_id, UploadId=item.staging_upload_id
        )["Parts"]
        assert [p["PartNumber"] for p in parts] == [1]
        assert harness.publisher.events == []
    finally:
        vault.sys.submit_unseal_key(key)
    assert secret_exists(vault, item.secret_id)
    irs.resume(upload.object_id)  # the queue's retry
    kind, payload = harness.outcome(upload)
    assert kind == "FileInterrogationSuccess"
    assert payload["decrypted_size"] == len(plain) and payload["parts_manifest"]["parts"] == 2


@pytest.mark.parametrize("wrong", [1, 3, 4])
def test_resumed_invocations_check_every_declared_part(harness: Harness, wrong: int) -> None:
    """One staged part per invocation: each upload part's boundary (shifted by the header)
    lies inside the read of a later turn, which carries the running hash of the part over
    from the checkpoint; the wrong one is found in whichever turn it ends."""
    plain = random_bytes(3 * PLAIN_PER_PART + 4321, seed=14)  # four parts
    submitter_private, submitter_public = generate_keypair()
    session_key, new_secret = os.urandom(32), os.urandom(32)
    data = c4gh.make_header(
        session_key, submitter_private, harness.archive_public
    ) + c4gh.encrypt_body(plain, session_key)
    upload = harness.upload(data, plain, submitter_public, wrong_sha256=(wrong,))
    stepwise = harness.irs(FixedKeyStore(session_key, new_secret), max_parts=1)
    harness.start(stepwise, upload, len(data))
    turns = 1 + harness.drain(stepwise)
    kind, payload = harness.outcome(upload)
    assert (kind, payload["reason"]) == ("FileInterrogationFailure", part_mismatch(wrong))
    assert turns == wrong  # part N ends inside staged part N: read in the N-th turn
    assert harness.record(upload).state == "failed"
