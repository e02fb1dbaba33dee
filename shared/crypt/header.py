"""Opening the Crypt4GH header of an upload with the recipient's private key.

The key store needs more than ``c4gh.parse_header`` gives: which packet the key opens, and
who wrote it (the X25519 sender key that opens each packet), so that a header written by
someone other than the declared submitter is refused. The problems raised here are neutral
(no HTTP status): they say what is wrong with the bytes, never which key was tried, and the
service that calls decides what they mean to its callers.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

from crypt4gh import header as c4gh_header

from shared.crypt import c4gh

_X25519_CHACHA20 = 0
_MIN_PACKET = 8  # length field (4) + encryption method (4)
_MIN_X25519_BODY = c4gh.KEY_SIZE + c4gh.NONCE_SIZE + c4gh.MAC_SIZE  # writer key, nonce, MAC


class UploadHeaderProblem(ValueError):
    """The bytes are not the header of an upload as the archive accepts it."""

    def __init__(self, description: str, data: dict[str, Any] | None = None) -> None:
        super().__init__(description)
        self.description = description
        self.data = data or {}


class NotAHeader(UploadHeaderProblem):
    """The bytes do not start with a Crypt4GH header."""


class HeaderIncomplete(UploadHeaderProblem):
    """The bytes end inside the header; ``data`` says how many more are needed at least."""


class NotForThisKey(UploadHeaderProblem):
    """No packet opens with the given private key."""


class OtherWriter(UploadHeaderProblem):
    """A packet the key opens was written with another key than the declared writer's."""


class UnsupportedPacket(UploadHeaderProblem):
    """A packet the key opens is of a kind or size an upload never has."""


class HasEditList(UploadHeaderProblem):
    """The header holds an edit list."""


class NotOneSessionKey(UploadHeaderProblem):
    """The header holds no or several data keys."""


@dataclass(frozen=True)
class UploadHeader:
    session_key: bytes
    length: int  # where the encrypted body starts


def measure(file_part: bytes) -> int:
    """Length of the header at the start of ``file_part``, checked without any key."""
    try:
        return c4gh.header_length(file_part)
    except c4gh.HeaderTruncatedError as error:
        needed = _bytes_needed(file_part)
        raise HeaderIncomplete(
            f"the upload ends inside its Crypt4GH header: it has {len(file_part)} bytes and "
            f"the header needs at least {needed}.",
            data={"received": len(file_part), "needed_at_least": needed},
        ) from error
    except c4gh.HeaderError as error:
        raise NotAHeader(f"the upload does not start with a Crypt4GH header: {error}.") from error


def _bytes_needed(data: bytes) -> int:
    """A lower bound of the header length, from the length fields that ``data`` holds.

    Exact once every packet length field is present; each packet not yet seen counts with
    its minimum size.
    """
    if len(data) < c4gh.PREAMBLE_SIZE:
        return c4gh.PREAMBLE_SIZE + _MIN_PACKET
    count = int.from_bytes(data[12:16], "little")
    position = c4gh.PREAMBLE_SIZE
    for index in range(count):
        if position + 4 > len(data):
            return position + _MIN_PACKET * (count - index)
        position += int.from_bytes(data[position : position + 4], "little")
    return position


def open_header(
    file_part: bytes, length: int, private_key: bytes, writer_public_key: bytes
) -> UploadHeader:
    """The one session key of an upload whose header is ``file_part[:length]``.

    Packets for other recipients are skipped, as any Crypt4GH reader does. Of the packets
    ``private_key`` opens there must be exactly one data key and no edit list (GHGA uploads
    have exactly that), and each must have been written with ``writer_public_key``.
    """
    packets = list(c4gh_header.parse(io.BytesIO(file_part[:length])))
    opened = [found for packet in packets if (found := _open_packet(packet, private_key))]
    if not opened:
        raise NotForThisKey(
            "The Crypt4GH header is encrypted for another recipient, not for this archive's "
            "public key; encrypt the file with the key the archive publishes."
        )
    if any(writer != writer_public_key for _, writer in opened):
        raise OtherWriter(
            "The Crypt4GH header was not written with the declared submitter public key."
        )
    try:
        data_packets, edit_list = c4gh_header.partition_packets([plain for plain, _ in opened])
        session_keys = [bytes(c4gh_header.parse_enc_packet(p)) for p in data_packets]
    except ValueError as error:
        raise UnsupportedPacket(f"Unsupported Crypt4GH header packet: {error}.") from error
    if edit_list is not None:
        raise HasEditList("Crypt4GH headers with an edit list are not accepted.")
    if len(session_keys) != 1:
        raise NotOneSessionKey(
            f"The Crypt4GH header holds {len(session_keys)} data keys; an upload has exactly one."
        )
    if len(session_keys[0]) != c4gh.KEY_SIZE:
        raise UnsupportedPacket("The data key in the Crypt4GH header does not have 32 bytes.")
    return UploadHeader(session_key=session_keys[0], length=length)


def _open_packet(packet: bytes, private_key: bytes) -> tuple[bytes, bytes] | None:
    """(plaintext, writer public key) if ``private_key`` opens the packet, else None.

    Calls the X25519 routine directly rather than crypt4gh's decrypt_packet, which logs
    an error for every packet meant for someone else.
    """
    if int.from_bytes(packet[:4], "little") != _X25519_CHACHA20:
        return None
    body = packet[4:]
    if len(body) < _MIN_X25519_BODY:
        return None
    try:
        plain = c4gh_header.decrypt_X25519_Chacha20_Poly1305(body, private_key)
    except (ValueError, TypeError, AssertionError):  # crypt4gh's sodium asserts on sizes
        return None
    return bytes(plain), bytes(body[: c4gh.KEY_SIZE])
