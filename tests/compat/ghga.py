"""Drive GHGA's own client in the tests: the driver is testbed/ghga_client.py (the journey
uses it too); here only what pytest adds (a failure when .venv-ghga is missing)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from testbed import ghga_client
from testbed.ghga_client import GHGA_CONNECTOR, GhgaConnectorMissing
from tests.support import User

__all__ = ["GHGA_CONNECTOR", "require_ghga_connector", "run_ghga", "write_key_files"]


def require_ghga_connector() -> Path:
    try:
        return ghga_client.ghga_connector()
    except GhgaConnectorMissing as missing:
        pytest.fail(str(missing))


def write_key_files(directory: Path, user: User) -> tuple[Path, Path]:
    """The user's key pair as unencrypted Crypt4GH key files (no passphrase prompt)."""
    return ghga_client.write_key_files(directory, user.public_key, user.private_key)


def run_ghga(
    *args: str, wkvs_url: str, cwd: Path, stdin: str, timeout: float = 300, **settings: str
) -> subprocess.CompletedProcess[str]:
    """Run ghga-connector non-interactively: the WPAT (and answers) come on stdin."""
    require_ghga_connector()
    return ghga_client.run_ghga(
        *args, wkvs_url=wkvs_url, cwd=cwd, stdin=stdin, timeout=timeout, **settings
    )
