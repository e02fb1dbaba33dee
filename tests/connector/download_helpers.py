"""Helpers of the download tests: staged files, download tokens, and a proxy for ranges.

The archive side is played as tests/dcs does, so that a test controls the file: a real
EKSS secret, FileInternallyRegistered / FileStagedForDownload on the stack's topics, the
content in the outbox bucket (tests/connector/test_download_pipeline.py runs the real
pipeline instead). The connector runs as a subprocess or in-process through typer's runner.
"""

from __future__ import annotations

import http.client
import json
import re
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, replace
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

from shared.crypt.sealedbox import seal
from shared.resources import queue_name
from tests.connector.helpers import KeyFiles, RecordingProxy, UploadBox, connector_env
from tests.dcs.helpers import (
    ArchivedFile,
    Requester,
    archived_file,
    put_in_outbox,
    register,
    registered_payload,
    report_staged,
)
from tests.support import Operator, publish_event, wait_until_drained

_RANGE = re.compile(r"bytes=(\d+)-(\d+)")


@dataclass
class Package:
    """A download work package for ``keys``' user, as the user pastes it."""

    package_id: str
    wpat: str
    keys: KeyFiles


def download_package(
    operator: Operator, keys: KeyFiles, file_ids: list[str], **extra: Any
) -> Package:
    package_id, token = operator.work_package(
        keys.user, type="download", file_ids=file_ids, **extra
    )
    return Package(package_id, f"{package_id}:{seal(token, keys.user.public_key)}", keys)


def download_env(
    endpoints: dict[str, Any], package: Package, home: Path, **extra: str
) -> dict[str, str]:
    """The connector's environment for a download (token, WKVS, keys, private HOME)."""
    holder = UploadBox("", package.package_id, "", package.wpat, package.keys)
    env = connector_env(endpoints, holder, home, FS_CONNECTOR_RETRIES="2", **extra)
    env.pop("FS_CONNECTOR_PART_SIZE", None)
    return env


def stage(
    endpoints: dict[str, Any],
    operator: Operator,
    plain: bytes,
    *,
    declared_sha256: str | None = None,
    damage_at: int | None = None,
) -> ArchivedFile:
    """A registered file, staged into the outbox (DCS answers 200 for it).

    ``declared_sha256`` registers it with another checksum; ``damage_at`` flips one byte of
    the outbox copy (the size stays right, so DCS serves it).
    """
    f = archived_file(endpoints, plain)
    requester = Requester(endpoints, operator, [f.file_id])
    payload = registered_payload(endpoints, f)
    if declared_sha256 is not None:
        payload["decrypted_sha256"] = declared_sha256
    publish_event(endpoints, "FileInternallyRegistered", payload, key=f.file_id)
    requester.wait_for(f.file_id, 202)
    stored = f
    if damage_at is not None:
        damaged = bytearray(f.content)
        damaged[damage_at] ^= 0x01
        stored = replace(f, content=bytes(damaged))
    put_in_outbox(endpoints, stored)
    report_staged(endpoints, f)
    requester.wait_for(f.file_id, 200)
    return f


def register_only(endpoints: dict[str, Any], plain: bytes) -> ArchivedFile:
    """A file DCS knows (it handled the registration), not staged: DCS answers 202 for it.

    IFRS never registered it, so it drops DCS's staging requests: only the test stages it.
    """
    f = archived_file(endpoints, plain)
    register(endpoints, f)
    wait_until_drained(endpoints, queue_name("dcs-events", endpoints["resource_prefix"]))
    return f


def wait_until(condition, timeout: float = 60, what: str | Callable[[], str] = "it") -> None:
    """Poll ``condition()`` (bounded) until it is true; ``what`` names it in the failure."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            described = what() if callable(what) else what
            raise AssertionError(f"{described} not reached within {timeout:.0f}s")
        time.sleep(0.05)


def resume_record(output_dir: Path, file_id: str, plain: bool = False) -> dict[str, Any] | None:
    """The resume record of the encrypted download (or, ``plain``, of the plaintext alone)."""
    path = output_dir / (f"{file_id}.part.json" if plain else f"{file_id}.c4gh.part.json")
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, ValueError):
        return None


class RangeProxy(RecordingProxy):
    """The recording proxy, taught to misbehave on range GETs to the object storage.

    ``fail_once[start] = status`` answers the first GET of the range starting at ``start``
    with that status; ``short_once`` cuts the first answer of those ranges in half;
    ``allow_ranges`` lets the GETs of that many different ranges through (retries of those
    included) and holds the GETs of any other range (then 503).
    ``ranges`` records (start, end inclusive, status) of every range GET.
    """

    def __init__(self) -> None:
        super().__init__()
        self.fail_once: dict[int, int] = {}
        self.short_once: set[int] = set()
        self.allow_ranges: int | None = None
        self.ranges: list[tuple[int, int, int]] = []
        self._allowed_starts: set[int] = set()
        self._range_lock = threading.Lock()

    def requests(self, method: str, path_part: str) -> list[tuple[str, int]]:
        """(path, status) of the requests whose path contains ``path_part``."""
        with self._lock:
            return [
                (urllib.parse.urlsplit(url).path, status)
                for m, url, status in self.log
                if m == method and path_part in urllib.parse.urlsplit(url).path
            ]

    def _handle(self, request: BaseHTTPRequestHandler) -> None:
        match = _RANGE.fullmatch(request.headers.get("Range", ""))
        if request.command != "GET" or match is None:
            super()._handle(request)
            return
        start, end = int(match.group(1)), int(match.group(2))
        with self._range_lock:
            fail = self.fail_once.pop(start, None)
            short = start in self.short_once
            self.short_once.discard(start)
            hold = False
            if self.allow_ranges is not None and start not in self._allowed_starts:
                hold = len(self._allowed_starts) >= self.allow_ranges
                if not hold:
                    self._allowed_starts.add(start)
        if fail is not None:
            self._reply(request, fail, b"<Error><Code>AccessDenied</Code></Error>")
            self._note(request.path, start, end, fail)
            return
        if hold:
            self.held.set()
            self._release.wait(120)
            self._reply(request, 503, b"held back by the test proxy")
            self._note(request.path, start, end, 503)
            return
        if short:
            self._forward_short(request, start, end)
            return
        super()._handle(request)
        with self._lock:
            status = self.log[-1][2] if self.log else 0
        self._note(request.path, start, end, status, logged=True)

    def _note(self, url: str, start: int, end: int, status: int, logged: bool = False) -> None:
        with self._range_lock:
            self.ranges.append((start, end, status))
        if not logged:
            self._record("GET", url, status)

    def _forward_short(self, request: BaseHTTPRequestHandler, start: int, end: int) -> None:
        """Announce the whole range, send its first half, and drop the connection."""
        connection = http.client.HTTPConnection(*_host_port(request.path), timeout=60)
        target = urllib.parse.urlsplit(request.path)
        path = target.path + (f"?{target.query}" if target.query else "")
        connection.request("GET", path, headers={"Range": f"bytes={start}-{end}"})
        response = connection.getresponse()
        data = response.read()
        connection.close()
        request.close_connection = True
        try:
            request.send_response(206)
            request.send_header("Content-Range", response.getheader("Content-Range", ""))
            request.send_header("Content-Length", str(len(data)))
            request.end_headers()
            request.wfile.write(data[: len(data) // 2])
            request.wfile.flush()
        except OSError:
            pass
        self._note(request.path, start, end, 206)


def _host_port(url: str) -> tuple[str, int]:
    target = urllib.parse.urlsplit(url)
    return target.hostname or "127.0.0.1", target.port or 80


def run_download(env: dict[str, str], output_dir: Path, *args: str):
    """``fs-connector download`` in-process (typer's runner); the result has exit_code,
    stdout and stderr."""
    from typer.testing import CliRunner

    from connector.cli import app

    return CliRunner().invoke(app, ["download", "--output-dir", str(output_dir), *args], env=env)
