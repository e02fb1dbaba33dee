"""WPS's refusals, with the exception ids GHGA's connector branches on."""

from __future__ import annotations

from shared.errors import Forbidden, NotFound, Unauthorized, Unprocessable


def invalid_request(description: str) -> Unprocessable:
    return Unprocessable(description, exception_id="validationError")


def invalid_public_key(problem: object) -> Unprocessable:
    return Unprocessable(
        f"user_public_crypt4gh_key is not a Crypt4GH public key: {problem}",
        exception_id="invalidPublicKey",
    )


def token_required() -> Unauthorized:
    return Unauthorized("A work package access token is required.", exception_id="notAuthorized")


def package_not_found() -> NotFound:
    return NotFound("There is no such work package.", exception_id="workPackageNotFound")


def no_access() -> Forbidden:
    return Forbidden(
        "This access token does not open this work package.", exception_id="noWorkPackageAccess"
    )


def package_expired() -> Forbidden:
    return Forbidden(
        "This work package has expired; ask for a new one.", exception_id="workPackageExpired"
    )


def package_revoked() -> Forbidden:
    return Forbidden(
        "This work package has been revoked; ask for a new one.",
        exception_id="workPackageRevoked",
    )


def wrong_package_type(purpose: str) -> Forbidden:
    return Forbidden(
        f"This work package is not for {purpose}.", exception_id="wrongWorkPackageType"
    )


def file_not_in_package() -> Forbidden:
    return Forbidden("This file is not part of the work package.", exception_id="fileNotInPackage")


def box_not_in_package() -> Forbidden:
    return Forbidden(
        "This upload box is not part of the work package.", exception_id="boxNotInPackage"
    )
