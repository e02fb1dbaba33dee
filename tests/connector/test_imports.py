"""The connector stays light: importing it pulls in no cloud SDK, server library or service."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.support import REPO

FORBIDDEN = ("boto3", "botocore", "chalice", "pynamodb", "hvac", "pydantic", "jwt")

SCRIPT = """
import importlib, json, pkgutil, sys
import connector, connector.cli
for module in pkgutil.walk_packages(connector.__path__, "connector."):
    importlib.import_module(module.name)
print(json.dumps(sorted(sys.modules)))
"""


def test_connector_imports_nothing_heavy() -> None:
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    modules = json.loads(result.stdout)
    assert "connector.upload.batch" in modules and "httpx" in modules  # the check can fail
    tops = {name.split(".")[0] for name in modules}
    assert not tops & set(FORBIDDEN), tops & set(FORBIDDEN)
    shared = {m for m in modules if m == "shared" or m.startswith("shared.")}
    # shared.multipart: the part arithmetic and alias rules, standard library only
    assert shared <= {"shared", "shared.crypt", "shared.multipart"} | {
        m for m in shared if m.startswith("shared.crypt.")
    }, shared
    assert not any(m.startswith(("functions", "infra", "testbed")) for m in modules)
