"""EKSS's refusals, each a ServiceError subclass with its exception id.

Descriptions say what is wrong with the request or the deployment, never a secret or a key.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from shared.crypt import header
from shared.errors import (
    BadRequest,
    Forbidden,
    NotFound,
    ServiceError,
    Unauthorized,
    Unavailable,
    Unprocessable,
)
from shared.ports import SecretStoreUnavailable

# ---------------------------------------------------------------- the request


class NotAuthorized(Unauthorized):
    exception_id = "notAuthorized"

    def __init__(self) -> None:
        super().__init__(
            "Only the archive's services may call the key store, with a valid service token."
        )


class WrongCaller(Forbidden):
    """A valid credential of another caller: each caller has its own routes."""

    exception_id = "wrongCaller"

    def __init__(self) -> None:
        super().__init__("This credential does not grant this route.")


class WorkOrderRefused(Forbidden):
    """No valid download work order for this secret and key. One answer for every cause
    (missing, forged, expired, another file, another key), so that it teaches nothing."""

    exception_id = "workOrderRefused"

    def __init__(self) -> None:
        super().__init__("An envelope needs the reader's valid download work order token.")


class NoInterrogation(NotFound):
    """No inbox object for the file: it is not under interrogation (any more)."""

    exception_id = "noInterrogation"

    def __init__(self) -> None:
        super().__init__("The file is not in the inbox: no interrogation of it is in progress.")


class NotRegistered(NotFound):
    """The file's secret exists, but the file is not registered (yet): no envelopes."""

    exception_id = "fileNotRegistered"

    def __init__(self) -> None:
        super().__init__("The file is not registered in the archive (yet); try again later.")


class InvalidPublicKey(Unprocessable):
    exception_id = "invalidPublicKey"

    def __init__(self, problem: object) -> None:
        super().__init__(f"The public key in the path is not a Crypt4GH public key: {problem}.")


class InvalidFileId(Unprocessable):
    exception_id = "invalidFileId"

    def __init__(self) -> None:
        super().__init__("The file id is not a UUID.")


class InvalidSecretId(Unprocessable):
    exception_id = "invalidSecretId"

    def __init__(self) -> None:
        super().__init__("The secret id is not a UUID.")


class UnknownSecret(NotFound):
    exception_id = "secretNotFound"

    def __init__(self) -> None:
        super().__init__("There is no secret with this id.")


class FileDeleted(ServiceError):
    """The file was deleted (its secret's place holds a tombstone): never a secret again."""

    status = 410
    exception_id = "fileDeleted"

    def __init__(self, file_id: str) -> None:
        super().__init__(
            "The file was deleted from the archive; no secret is created for it again.",
            data={"file_id": file_id},
        )


# ---------------------------------------------------------------- the upload's header


class NotCrypt4gh(BadRequest):
    exception_id = "notCrypt4gh"


class HeaderTruncated(BadRequest):
    exception_id = "headerTruncated"


class WrongArchiveKey(BadRequest):
    exception_id = "wrongArchiveKey"


class SubmitterKeyMismatch(BadRequest):
    exception_id = "submitterKeyMismatch"


class UnsupportedHeader(BadRequest):
    exception_id = "unsupportedHeader"


class EditListNotSupported(BadRequest):
    exception_id = "editListNotSupported"


class MultipleSessionKeys(BadRequest):
    exception_id = "multipleSessionKeys"


_HEADER_REFUSALS: dict[type[header.UploadHeaderProblem], type[BadRequest]] = {
    header.NotAHeader: NotCrypt4gh,
    header.HeaderIncomplete: HeaderTruncated,
    header.NotForThisKey: WrongArchiveKey,
    header.OtherWriter: SubmitterKeyMismatch,
    header.UnsupportedPacket: UnsupportedHeader,
    header.HasEditList: EditListNotSupported,
    header.NotOneSessionKey: MultipleSessionKeys,
}


@contextlib.contextmanager
def refusing_bad_headers() -> Iterator[None]:
    """A header problem is the client's fault (400); shared.crypt.header says which."""
    try:
        yield
    except header.UploadHeaderProblem as problem:
        refusal = _HEADER_REFUSALS[type(problem)]
        raise refusal(problem.description, data=problem.data) from problem


# ---------------------------------------------------------------- the deployment


class SecretStoreDown(Unavailable):
    exception_id = "secretStoreUnavailable"

    def __init__(self) -> None:
        super().__init__("The secret store is unavailable; try again later.")


@contextlib.contextmanager
def refusing_store_outage() -> Iterator[None]:
    """The secret store's outage, as the 503 that tells callers to retry."""
    try:
        yield
    except SecretStoreUnavailable as error:
        raise SecretStoreDown() from error


class StoredSecretInvalid(ServiceError):
    exception_id = "storedSecretInvalid"

    def __init__(self) -> None:
        super().__init__("The stored secret is malformed.")


class SecretContended(Unavailable):
    """The file's secret kept changing under the request (creates and deletions of the same
    file at once): bounded retries ran out; the caller's retry settles it."""

    exception_id = "secretContended"

    def __init__(self) -> None:
        super().__init__("The file's secret changed during the request; try again.")


class ArchiveKeyUnavailable(ServiceError):
    """The key is missing or malformed where the configuration says it is: a deployment
    fault, not the caller's; the description names the place, never the key."""

    status = 500
    exception_id = "archiveKeyUnavailable"
