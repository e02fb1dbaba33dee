"""Drive GHGA's own client, ghga-connector 4.x, installed by `make install` in .venv-ghga."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from shared.crypt.keys import private_key_pem, public_key_pem
from tests.support import REPO, User

GHGA_CONNECTOR = REPO / ".venv-ghga" / "bin" / "ghga-connector"


def require_ghga_connector() -> Path:
    if not GHGA_CONNECTOR.exists():
        pytest.fail("GHGA's connector is missing: run `make install` (it creates .venv-ghga)")
    return GHGA_CONNECTOR


def write_key_files(directory: Path, user: User) -> tuple[Path, Path]:
    """The user's key pair as unencrypted Crypt4GH key files (no passphrase prompt)."""
    public, private = directory / "key.pub", directory / "key.sec"
    public.write_text(public_key_pem(user.public_key))
    private.write_text(private_key_pem(user.private_key))
    private.chmod(0o600)
    return public, private


def run_ghga(
    *args: str, wkvs_url: str, cwd: Path, stdin: str, timeout: float = 300, **settings: str
) -> subprocess.CompletedProcess[str]:
    """Run ghga-connector non-interactively: the WPAT (and answers) come on stdin."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "GHGA_CONNECTOR_"))}
    env.update(
        {
            "GHGA_CONNECTOR_WKVS_API_URL": wkvs_url,
            "GHGA_CONNECTOR_CLIENT_NUM_RETRIES": "2",
            "NO_PROXY": "127.0.0.1,localhost",
            "COLUMNS": "200",
            **{f"GHGA_CONNECTOR_{k.upper()}": v for k, v in settings.items()},
        }
    )
    return subprocess.run(
        [str(require_ghga_connector()), *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=timeout,
        start_new_session=True,  # no controlling terminal: prompts read stdin
    )
