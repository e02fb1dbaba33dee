"""Asking the user for secrets: hidden on a terminal, one line from stdin in a pipe.

Secrets never come from the command line (they would end up in shell histories and
process listings): the access token from FS_CONNECTOR_WPAT or this prompt, the key
passphrase from FS_CONNECTOR_PASSPHRASE or this prompt (passphrase first, then token).
"""

from __future__ import annotations

import getpass
import os
import sys

from connector.api.wps import AccessToken, parse_wpat
from connector.errors import BadInput
from connector.keys import KeyPair

WPAT_ENV = "FS_CONNECTOR_WPAT"


def hidden_prompt(text: str) -> str:
    """Ask without echo on a terminal; read a line from stdin when it is a pipe."""
    if sys.stdin is not None and sys.stdin.isatty():
        return getpass.getpass(f"{text}: ")
    sys.stderr.write(f"{text}: ")
    sys.stderr.flush()
    line = sys.stdin.readline() if sys.stdin is not None else ""
    if not line:
        raise EOFError
    return line.rstrip("\r\n")


def read_access_token(keys: KeyPair) -> AccessToken:
    """The work package access token, opened with the user's private key."""
    text = os.environ.get(WPAT_ENV, "").strip()
    if not text:
        try:
            text = hidden_prompt("Paste your work package access token")
        except EOFError:
            raise BadInput(
                f"No work package access token: set {WPAT_ENV} or paste it at the prompt."
            ) from None
    return parse_wpat(text, keys.private_key)
