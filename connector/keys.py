"""The user's Crypt4GH key pair, loaded with the standard crypt4gh library.

Keys are read before anything touches the network, so a wrong path, a wrong passphrase or
halves that do not belong together fail fast with exit code 2. Passphrases come from
FS_CONNECTOR_PASSPHRASE (for scripts) or a hidden prompt, never from the command line.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from crypt4gh.keys import get_private_key, get_public_key

from connector.errors import BadInput
from shared.crypt.keys import WeakKeyError, check_public_key, encode_key, public_from_private

PASSPHRASE_ENV = "FS_CONNECTOR_PASSPHRASE"  # noqa: S105 - a variable name
PROMPT_ATTEMPTS = 3
KEY_SIZE = 32

Prompt = Callable[[str], str]


@dataclass(frozen=True)
class KeyPair:
    """Raw 32-byte Curve25519 keys; the private half never appears in a repr."""

    private_key: bytes = field(repr=False)
    public_key: bytes

    @property
    def public_b64(self) -> str:
        """Standard base64 of the public key, as on the wire and in WOT claims."""
        return encode_key(self.public_key)


def _check_file(path: Path, what: str) -> None:
    if not path.exists():
        raise BadInput(f"The {what} file {path} does not exist.")
    if not path.is_file():
        raise BadInput(f"The {what} path {path} is not a file.")
    try:
        with path.open("rb") as handle:
            handle.read(1)
    except OSError as error:
        raise BadInput(f"The {what} file {path} cannot be read: {error.strerror}.") from None


@contextlib.contextmanager
def _quiet_crypt4gh():
    """crypt4gh prints and logs to stderr (and exits) on a wrong passphrase; keep it quiet."""
    logger = logging.getLogger("crypt4gh")  # its children inherit the level
    saved = logger.level
    logger.setLevel(logging.CRITICAL + 1)
    try:
        with contextlib.redirect_stderr(io.StringIO()):
            yield
    finally:
        logger.setLevel(saved)


def load_public_key(path: Path) -> bytes:
    _check_file(path, "public key")
    try:
        with _quiet_crypt4gh():
            key = get_public_key(str(path))
    except (ValueError, NotImplementedError, OSError, SystemExit):
        key = b""
    if len(key) != KEY_SIZE:
        raise BadInput(f"{path} is not a Crypt4GH (or OpenSSH ed25519) public key.")
    try:
        return check_public_key(bytes(key))
    except WeakKeyError:
        raise BadInput(
            f"{path} holds a weak public key (a point of small order, for which anyone can "
            "open what is encrypted to it); use a key made by crypt4gh-keygen."
        ) from None


class _Passphrase:
    """The callback crypt4gh calls for an encrypted key; remembers what happened."""

    def __init__(self, path: Path, from_env: str | None, prompt: Prompt | None, left: int):
        self.path, self.from_env, self.prompt, self.left = path, from_env, prompt, left
        self.asked = False
        self.unavailable = False

    def __call__(self) -> str:
        self.asked = True
        if self.from_env is not None:
            return self.from_env
        try:
            if self.prompt is None:
                raise EOFError
            return self.prompt(f"Passphrase for {self.path.name} ({self.left} attempt(s) left)")
        except (EOFError, RuntimeError, OSError):
            self.unavailable = True
            raise


def load_private_key(
    path: Path, prompt: Prompt | None = None, env: Mapping[str, str] | None = None
) -> bytes:
    """The raw private key; asks for the passphrase only if the key file is encrypted."""
    _check_file(path, "private key")
    env = os.environ if env is None else env
    from_env = env.get(PASSPHRASE_ENV)
    attempts = PROMPT_ATTEMPTS if from_env is None and prompt is not None else 1
    for attempt in range(attempts):
        passphrase = _Passphrase(path, from_env, prompt, attempts - attempt)
        try:
            with _quiet_crypt4gh():
                key = get_private_key(str(path), passphrase)
        except SystemExit:  # crypt4gh exits on any error while unlocking a key
            key = None
        except (ValueError, NotImplementedError, OSError):
            raise BadInput(f"{path} is not a Crypt4GH (or OpenSSH ed25519) private key.") from None
        if key is not None and len(key) == KEY_SIZE:
            return bytes(key)
        if passphrase.unavailable:
            raise BadInput(
                f"The private key {path} is protected by a passphrase: set {PASSPHRASE_ENV} "
                "or run the command in a terminal to be asked for it."
            )
        if not passphrase.asked:
            raise BadInput(f"{path} is not a valid Crypt4GH private key.")
    source = f" (from {PASSPHRASE_ENV})" if from_env is not None else ""
    raise BadInput(f"Wrong passphrase{source} for the private key {path}.")


def load_keypair(
    public_path: Path,
    private_path: Path,
    prompt: Prompt | None = None,
    env: Mapping[str, str] | None = None,
) -> KeyPair:
    """Both halves, checked to belong together (the public half derives from the private)."""
    public_key = load_public_key(public_path)
    private_key = load_private_key(private_path, prompt, env)
    if public_from_private(private_key) != public_key:
        raise BadInput(
            f"The keys do not match: {public_path} is not the public key of {private_path}."
        )
    return KeyPair(private_key, public_key)
