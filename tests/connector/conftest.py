"""Fixtures of the connector tests: the user's key files, an upload box, a private HOME."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.connector.helpers import KeyFiles, UploadBox, make_keys, upload_box
from tests.support import Operator


@pytest.fixture
def keys(tmp_path: Path) -> KeyFiles:
    return make_keys(tmp_path / "keys")


@pytest.fixture
def box(operator: Operator, keys: KeyFiles) -> UploadBox:
    return upload_box(operator, keys)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A HOME of the test's own, so no real config file or resume record is touched."""
    path = tmp_path / "home"
    path.mkdir()
    return path
