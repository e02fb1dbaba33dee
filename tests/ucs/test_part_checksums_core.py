"""The wire extension on the UCS core with fakes: uploads whose parts carry their SHA-256
(signed into the part URL, verified by S3) instead of GHGA's per-part MD5 (docs/checksums.md).

Over the real stack: tests/ucs/test_part_checksums.py, tests/seaweedfs/test_part_checksums.py.
"""

from __future__ import annotations

import hashlib
import os

import pytest

from functions.ucs.model import INBOX, PART_CHECKSUM_SHA256, Checksums, NewUpload
from functions.ucs.wire import CloseUploadBody, CreateUploadBody, part_checksum
from shared.crypt.c4gh import encrypted_size
from shared.crypt.checksums import multipart_etag
from shared.errors import ServiceError
from shared.events import FileUploadReceived
from shared.manifest import read_manifest
from shared.multipart import MIN_PART_SIZE
from tests.fakes import InMemoryStorage
from tests.ucs.test_core_fakes import INBOX_BUCKET, Ucs, refusal
from tests.ucs.test_core_fakes import ucs as ucs  # the fixture

DECRYPTED = MIN_PART_SIZE + 1000  # two parts


def plain_sha256() -> str:
    return hashlib.sha256(b"plain").hexdigest()


def create(ucs: Ucs, box_id: str, part_checksum: str | None = PART_CHECKSUM_SHA256) -> str:
    request = NewUpload(
        f"{part_checksum or 'md5'}.txt",
        DECRYPTED,
        encrypted_size(DECRYPTED),
        MIN_PART_SIZE,
        part_checksum=part_checksum,
    )
    return ucs.uploads.create_upload(box_id, request, created_by="user-1").id


def parts() -> list[bytes]:
    data = os.urandom(encrypted_size(DECRYPTED))
    return [data[:MIN_PART_SIZE], data[MIN_PART_SIZE:]]


def send(ucs: Ucs, box_id: str, file_id: str, bodies: list[bytes]) -> list[str]:
    """Each part as a client of the extension sends it: its URL asked for with its sha256,
    the body PUT with that checksum (the fake refuses a mismatch, as S3 does)."""
    upload = ucs.repository.uploads[file_id]
    sha256s = []
    for number, body in enumerate(bodies, start=1):
        sha256 = hashlib.sha256(body).hexdigest()
        ucs.uploads.part_url(box_id, file_id, number, sha256)
        ucs.storage.upload_part(
            INBOX_BUCKET, file_id, upload.s3_upload_id, number, body, checksum_sha256=sha256
        )
        sha256s.append(sha256)
    return sha256s


def test_an_extension_upload_verifies_part_checksums_and_signs_them_into_its_urls(
    ucs: Ucs,
) -> None:
    box_id = ucs.new_box()
    file_id = create(ucs, box_id)
    upload = ucs.repository.uploads[file_id]
    assert upload.part_checksum == PART_CHECKSUM_SHA256
    assert ucs.storage.uploads[(INBOX_BUCKET, upload.s3_upload_id)].checksum_sha256
    sha256 = "ab" * 32
    url = ucs.uploads.part_url(box_id, file_id, 1, sha256)
    assert f"sha256={sha256}" in url
    assert ucs.storage.presigned_parts[-1].checksum_sha256 == sha256
    # a GHGA upload's multipart upload carries no checksums
    other = create(ucs, box_id, None)
    assert ucs.repository.uploads[other].part_checksum is None
    mpu = ucs.storage.uploads[(INBOX_BUCKET, ucs.repository.uploads[other].s3_upload_id)]
    assert not mpu.checksum_sha256


def test_part_urls_refuse_the_wrong_path_clearly(ucs: Ucs) -> None:
    box_id = ucs.new_box()
    extension, md5s = create(ucs, box_id), create(ucs, box_id, None)
    with pytest.raises(ServiceError) as missing:
        ucs.uploads.part_url(box_id, extension, 1)
    assert refusal(missing) == (400, "partChecksumRequired")
    with pytest.raises(ServiceError) as unexpected:
        ucs.uploads.part_url(box_id, md5s, 1, "ab" * 32)
    assert refusal(unexpected) == (400, "partChecksumNotExpected")
    assert ucs.storage.presigned_parts == []  # nothing was signed
    # GHGA's URL without a checksum works as it always did
    assert "sha256" not in ucs.uploads.part_url(box_id, md5s, 1)


def test_the_query_parameter_and_the_create_field_are_validated() -> None:
    assert part_checksum({}) is None
    assert part_checksum({"sha256": "AB" * 32}) == "ab" * 32
    with pytest.raises(ServiceError) as bad:
        part_checksum({"sha256": "xyz"})
    assert refusal(bad) == (422, "validationError")
    body = {"alias": "a", "decrypted_size": 1, "encrypted_size": 1, "part_size": 1}
    assert CreateUploadBody(**body).part_checksum is None
    assert CreateUploadBody(**body, part_checksum="sha256").new_upload().part_checksum == "sha256"
    with pytest.raises(ValueError):
        CreateUploadBody(**body, part_checksum="crc32")


def test_close_without_md5s_takes_the_etag_from_s3_and_writes_an_md5_less_manifest(
    ucs: Ucs,
) -> None:
    box_id = ucs.new_box()
    file_id = create(ucs, box_id)
    bodies = parts()
    sha256s = send(ucs, box_id, file_id, bodies)
    body = CloseUploadBody(decrypted_sha256=plain_sha256(), encrypted_parts_sha256=sha256s)
    ucs.uploads.close(box_id, file_id, body.checksums(), "submitter-key")
    upload = ucs.repository.uploads[file_id]
    assert upload.state == INBOX
    etag = multipart_etag([hashlib.md5(b).hexdigest() for b in bodies])  # noqa: S324
    assert upload.encrypted_md5 == etag  # S3's, not declared
    assert ucs.storage.head(INBOX_BUCKET, file_id).etag == etag
    (payload,) = ucs.publisher.of("FileUploadReceived")
    event = FileUploadReceived.model_validate(payload)
    assert event.encrypted_md5 == etag
    manifest = read_manifest(ucs.storage, event.parts_manifest)
    assert manifest.md5 is None and manifest.sha256 == sha256s
    assert b"md5" not in ucs.storage.get(INBOX_BUCKET, event.parts_manifest.key)
    # a repeated close (a lost answer) converges, and publishes nothing new
    published = len(ucs.publisher.events)
    ucs.uploads.close(box_id, file_id, body.checksums(), "submitter-key")
    assert len(ucs.publisher.events) == published
    # a different declaration is not a repeat
    other = Checksums(plain_sha256(), None, None, list(reversed(sha256s)))
    with pytest.raises(ServiceError) as error:
        ucs.uploads.close(box_id, file_id, other, "submitter-key")
    assert refusal(error) == (409, "fileUploadStateError")


@pytest.mark.parametrize("reports", [True, False])
def test_close_checks_declared_sha256s_against_what_s3_reports(ucs: Ucs, reports: bool) -> None:
    """AWS reports each part's verified SHA-256 and UCS compares it; SeaweedFS and moto
    do not, so there the signed URLs were the check, and AWS's CompleteMultipartUpload
    (here the fake) compares the declared list once more."""
    ucs.storage.reports_part_checksums = reports
    box_id = ucs.new_box()
    file_id = create(ucs, box_id)
    sha256s = send(ucs, box_id, file_id, parts())
    wrong = [sha256s[0], "0" * 64]
    with pytest.raises((ServiceError, ValueError)) as error:
        ucs.uploads.close(box_id, file_id, Checksums(plain_sha256(), None, None, wrong), "k")
    if reports:
        assert isinstance(error.value, ServiceError)
        assert refusal(error) == (400, "checksumMismatch")
        assert error.value.data == {"part_no": 2}
    else:  # S3 itself refuses to complete with a checksum it did not verify
        assert "InvalidPart" in str(error.value)
    assert ucs.repository.uploads[file_id].state != INBOX


def test_close_bodies_must_fit_the_uploads_path(ucs: Ucs) -> None:
    box_id = ucs.new_box()
    extension, md5s = create(ucs, box_id), create(ucs, box_id, None)
    sha256s = send(ucs, box_id, extension, parts())
    with_md5 = Checksums(plain_sha256(), "a" * 32 + "-2", ["a" * 32] * 2, sha256s)
    with pytest.raises(ServiceError) as error:
        ucs.uploads.close(box_id, extension, with_md5, "k")
    assert refusal(error) == (422, "validationError")
    with pytest.raises(ServiceError) as error:
        ucs.uploads.close(box_id, md5s, Checksums(plain_sha256(), None, None, sha256s), "k")
    assert refusal(error) == (422, "validationError")
    short = Checksums(plain_sha256(), None, None, sha256s[:1])
    with pytest.raises(ServiceError) as error:
        ucs.uploads.close(box_id, extension, short, "k")
    assert refusal(error) == (400, "uploadSizeMismatch")
    assert ucs.repository.uploads[extension].state == "init"


def test_the_fake_refuses_parts_as_s3_does() -> None:
    """What the tests above rely on: a checksum upload refuses a part without its
    checksum and a body that does not match it (BadDigest), as AWS and SeaweedFS do."""
    storage = InMemoryStorage()
    upload_id = storage.create_multipart("b", "k", checksum_sha256=True)
    with pytest.raises(ValueError, match="InvalidRequest"):
        storage.upload_part("b", "k", upload_id, 1, b"x")
    with pytest.raises(ValueError, match="BadDigest"):
        storage.upload_part("b", "k", upload_id, 1, b"x", checksum_sha256="0" * 64)
