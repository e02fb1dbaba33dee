"""Errors the user sees, and the exit codes scripts can rely on.

Every failure the connector expects becomes a ConnectorError with a message written for the
user (never a traceback, never a token, key or presigned URL). The CLI catches them at its
boundary, prints the message and exits with the error's code:

====  ==========================================================================
code  meaning
====  ==========================================================================
0     all done (every file uploaded, downloaded or decrypted, or already there)
1     some file failed (the others are done), e.g. a download whose checksum does not
      match or a damaged file; or a service refused the request
2     bad usage or bad input: missing/unreadable/already-encrypted file, bad key (a
      file to decrypt that is not for your key), bad option or config, an output
      that exists without --overwrite; nothing was transferred
3     not authorized: the work package access token is wrong, invalid or expired,
      or was not issued for your key
4     a service could not be reached (or kept failing) after all retries
130   interrupted (Ctrl+C); open uploads and partial downloads are kept, run the same
      command to resume
====  ==========================================================================
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    FAILED = 1
    BAD_INPUT = 2
    NOT_AUTHORIZED = 3
    UNREACHABLE = 4
    INTERRUPTED = 130


EXIT_CODES_HELP = (
    "Exit codes: 0 all done; 1 some file failed (e.g. checksum mismatch); "
    "2 bad usage or bad input (nothing transferred); "
    "3 not authorized (work package token invalid or expired); "
    "4 service unreachable after retries; 130 interrupted (run again to resume)."
)


class ConnectorError(Exception):
    """A failure with a message for the user and the exit code it maps to."""

    exit_code: ExitCode = ExitCode.FAILED

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class BadInput(ConnectorError):
    """The user's input (files, keys, options, config) cannot be used; nothing was done."""

    exit_code = ExitCode.BAD_INPUT


class NotAuthorized(ConnectorError):
    """The archive refused the token (wrong, expired, or issued for another key)."""

    exit_code = ExitCode.NOT_AUTHORIZED


class Unreachable(ConnectorError):
    """A service did not answer (or kept answering 5xx/429) after every retry."""

    exit_code = ExitCode.UNREACHABLE


class ServiceError(ConnectorError):
    """A service answered, but refused or did something unexpected.

    ``status`` and ``exception_id`` come from the response, so callers can branch on them.
    """

    exit_code = ExitCode.FAILED

    def __init__(self, message: str, status: int | None = None, exception_id: str | None = None):
        super().__init__(message)
        self.status = status
        self.exception_id = exception_id


class TransferFailed(ConnectorError):
    """Moving one file's bytes failed; the other files of a batch go on."""

    exit_code = ExitCode.FAILED
