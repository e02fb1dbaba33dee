"""The journey's choice of client, and what it says when GHGA's client fails.

Cheap on purpose: the failing walks stop at their first client step, long before the
archive does any work; the full walks run in `make testbed` and the backend tests.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from testbed import journey
from testbed.ghga_client import redact
from tests.support import REPO, RunningStack


def test_client_rejects_bad_values(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        journey.main(["--client", "theirs"])
    assert exit_.value.code == 2
    assert "invalid choice: 'theirs'" in capsys.readouterr().err


@pytest.mark.parametrize("client", ["ghga", "both"])
def test_missing_ghga_client_fails_clearly(
    client: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "no-venv" / "ghga-connector"
    assert journey.main(["--client", client, "--ghga-connector", str(missing)]) == 1
    out = capsys.readouterr().out
    assert f"JOURNEY FAILED: GHGA's connector is missing: no {missing}" in out
    assert "make install" in out
    assert "starting the stack" not in out  # said before any work is done


def test_a_failing_ghga_step_is_named_with_its_output(
    running_stack: RunningStack, tmp_path: Path
) -> None:
    endpoints = json.loads((running_stack.state_dir / "endpoints.json").read_text())
    endpoints["wkvs_url"] = "http://127.0.0.1:9/wkvs"  # nothing listens there
    (tmp_path / "endpoints.json").write_text(json.dumps(endpoints))
    argv = ["--client", "ghga", "--endpoints", str(tmp_path / "endpoints.json")]
    result = subprocess.run(
        [sys.executable, "-m", "testbed.journey", *argv],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    out = result.stdout
    print(out)  # TEMP
    assert result.returncode == 1, out + result.stderr
    assert out.count("ghga-connector FAILED at step 'upload with ghga-connector'") == 1, out
    assert "`ghga-connector batch-upload` exited" in out, out
    assert "the tail of its output:\n      | " in out, out
    assert "JOURNEY FAILED: ghga-connector at 'upload with ghga-connector'" in out, out
    assert "JOURNEY OK" not in out
    assert "eyJ" not in out  # no token in the report
    # the report still shows where the walk stopped
    assert "the box lists them closed" in out and "not run" in out


def test_redact_blanks_tokens_and_keys() -> None:
    wpat = "0b7e4a4e-6d33-4bd5-9e7a-3f1b2c4d5e6f:AbCdEf0123456789+/GhIjKlMnOpQrStUvWxYz0123456789=="
    text = (
        f"pasted {wpat}\nAuthorization: Bearer abc.def\n"
        "key Q3J5cHQ0Z2gtdjEAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA1234=\n"
        "jwt eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln\n"
        "kept /tmp/fs-journey-x1/ghga/downloads/0b7e4a4e-6d33-4bd5-9e7a-3f1b2c4d5e6f.c4gh"
    )
    redacted = redact(text, [wpat, wpat.partition(":")[2]])
    assert wpat.partition(":")[2] not in redacted
    for secret in ("abc.def", "Q3J5cHQ0", "eyJ"):
        assert secret not in redacted
    assert "/tmp/fs-journey-x1/ghga/downloads/0b7e4a4e-6d33-4bd5-9e7a-3f1b2c4d5e6f.c4gh" in redacted
