"""Drive GHGA's own client, ghga-connector 4.x, installed by `make install` in .venv-ghga.

One driver for the journey and the compatibility tests, so both run GHGA's client the same
way: non-interactively (the WPAT comes on stdin), with unencrypted key files, and with
nothing of ours (AWS credentials, our own connector settings) leaking into its environment.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterable
from pathlib import Path

from shared.crypt.keys import private_key_pem, public_key_pem

REPO = Path(__file__).resolve().parents[1]
GHGA_CONNECTOR = REPO / ".venv-ghga" / "bin" / "ghga-connector"
MISSING_HINT = "run `make install`, which creates .venv-ghga with ghga-connector 4.x"


class GhgaConnectorMissing(RuntimeError):
    """GHGA's client is not installed where it was looked for."""


def ghga_connector(path: Path | None = None) -> Path:
    """The executable to run; fails with a clear message when it does not exist."""
    path = path or GHGA_CONNECTOR
    if not path.is_file() or not os.access(path, os.X_OK):
        raise GhgaConnectorMissing(f"GHGA's connector is missing: no {path} ({MISSING_HINT})")
    return path


def write_key_files(directory: Path, public_key: bytes, private_key: bytes) -> tuple[Path, Path]:
    """The user's key pair as unencrypted Crypt4GH key files (no passphrase prompt)."""
    public, private = directory / "key.pub", directory / "key.sec"
    public.write_text(public_key_pem(public_key))
    private.write_text(private_key_pem(private_key))
    private.chmod(0o600)
    return public, private


def run_ghga(
    *args: str,
    wkvs_url: str,
    cwd: Path,
    stdin: str,
    timeout: float = 300,
    executable: Path | None = None,
    **settings: str,
) -> subprocess.CompletedProcess[str]:
    """Run ghga-connector non-interactively: the WPAT (and answers) come on stdin.

    ``settings`` become ``GHGA_CONNECTOR_<NAME>`` variables (e.g. ``part_size``).
    """
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
        [str(ghga_connector(executable)), *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=timeout,
        start_new_session=True,  # no controlling terminal: prompts read stdin
    )


# JWTs and bearer tokens, and long base64 runs of mixed case and digits (sealed tokens,
# keys; paths and ids are lower case): never in a report
_JWT = re.compile(r"eyJ[\w-]+\.[\w-]+\.[\w-]*")
_BEARER = re.compile(r"(?i)(bearer\s+)\S+")
_BASE64 = re.compile(r"[A-Za-z0-9+/_-]{40,}={0,2}")


def _blank_base64(match: re.Match[str]) -> str:
    run = match.group(0)
    mixed = any(c.isupper() for c in run) and any(c.islower() for c in run)
    return "[redacted]" if mixed and any(c.isdigit() for c in run) else run


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with the given secrets and anything token- or key-shaped blanked out."""
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        text = text.replace(secret, "[redacted]")
    text = _JWT.sub("[redacted]", text)
    text = _BEARER.sub(lambda m: m.group(1) + "[redacted]", text)
    return _BASE64.sub(_blank_base64, text)


def output_tail(
    result: subprocess.CompletedProcess[str], secrets: Iterable[str] = (), lines: int = 12
) -> str:
    """The last lines of what the client printed (stdout, then stderr), redacted.

    Typer's boxed tracebacks are folded to one line: the error itself follows the box.
    """
    kept: list[str] = []
    in_box = False
    for line in f"{result.stdout or ''}\n{result.stderr or ''}".splitlines():
        line = line.rstrip().rstrip("│").rstrip()
        if line.startswith("╭") and "Traceback" in line:
            in_box = True
            kept.append("(traceback omitted)")
        elif in_box:
            in_box = not line.startswith("╰")
        elif line.strip():
            kept.append(line)
    return redact("\n".join(kept[-lines:]), secrets)
