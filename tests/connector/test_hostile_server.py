"""What a hostile or misconfigured archive can make the connector do, over real HTTP.

A fake archive on this machine (WKVS and WPS over http://127.0.0.1) hands out file ids that
are paths, devices and Windows tricks, or points the connector at plain http:// services
elsewhere. The connector must write nothing outside its output directory, and must not
open a connection to a plain http:// address that is not this machine: a raw listener on
this machine's non-loopback address proves that no connection (so no token) reached it.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from connector.api.dcs import parse_drs_object
from connector.cli import app
from connector.download.direct import RangeConnections
from connector.download.paths import DownloadPaths, file_id_problem
from connector.errors import BadInput, ExitCode
from connector.http import Http, RetryPolicy, make_client
from shared.crypt.keys import encode_key, generate_keypair
from shared.crypt.sealedbox import seal
from shared.multipart import name_problem
from tests.connector.helpers import KeyFiles

HOSTILE_IDS = [
    "../escaped",
    "../../etc/cron.d/x",
    "/tmp/absolute",
    "C:\\Windows\\x",
    "c:evil",
    "sub/dir",
    "..",
    ".",
    "CON",
    "nul",
    "Com1",
    "lpt9",
    "trailing.",
    "trailing ",
    "a\x00b",
    "a\nb",
    "\u202etxt.exe",
    "x" * 300,
]


class _Listener:
    """A TCP port that only counts the connections made to it."""

    def __init__(self, host: str) -> None:
        self.sock = socket.create_server((host, 0))
        self.sock.settimeout(0.2)
        self.host, self.port = host, self.sock.getsockname()[1]
        self.connections = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                connection, _ = self.sock.accept()
            except OSError:
                continue
            self.connections += 1
            connection.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.sock.close()


def _non_loopback_address() -> str | None:
    """An address of this machine that is not loopback (the route to a documentation
    address shows it without sending anything), or None."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.connect(("192.0.2.123", 9))
            address = probe.getsockname()[0]
    except OSError:
        return None
    return None if address.startswith("127.") else address


@pytest.fixture
def outside() -> Iterator[_Listener]:
    address = _non_loopback_address()
    if address is None:
        pytest.skip("this machine has no non-loopback address")
    listener = _Listener(address)
    yield listener
    listener.close()


class FakeArchive:
    """WKVS and WPS as the connector sees them; ``values`` and ``files`` are the answers."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str]] = []
        self.values: dict[str, Any] = {}
        self.files: dict[str, str] = {}
        archive = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                archive.requests.append(("GET", self.path))
                if self.path.endswith("/values"):
                    body = archive.values
                elif "/work-packages/" in self.path:
                    body = {"type": "download", "files": archive.files}
                else:
                    self.send_error(404)
                    return
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:  # a work order token: none is given
                archive.requests.append(("POST", self.path))
                self.send_error(501)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.values = {
            "crypt4gh_public_keys": {"archive": encode_key(generate_keypair()[1])},
            "wps_api_url": f"{self.url}/wps",
            "ucs_api_url": f"{self.url}/ucs",
            "dcs_api_url": f"{self.url}/dcs",
        }
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def archive() -> Iterator[FakeArchive]:
    fake = FakeArchive()
    yield fake
    fake.close()


def _env(keys: KeyFiles, home: Path, wkvs_url: str) -> dict[str, str]:
    token = f"{uuid.uuid4()}:{seal('a-token', keys.user.public_key)}"
    return {
        "HOME": str(home),
        "XDG_STATE_HOME": str(home / "state"),
        "FS_CONNECTOR_WPAT": token,
        "FS_CONNECTOR_WKVS_URL": wkvs_url,
        "FS_CONNECTOR_MY_PUBLIC_KEY_PATH": str(keys.public),
        "FS_CONNECTOR_MY_PRIVATE_KEY_PATH": str(keys.private),
        "FS_CONNECTOR_RETRIES": "0",
        "NO_PROXY": "*",
    }


def _download(env: dict[str, str], output: Path, *args: str):
    return CliRunner().invoke(app, ["download", "--output-dir", str(output), *args], env=env)


def _tree(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


# ------------------------------------------------------------------ hostile names


def test_hostile_file_ids_write_nothing_anywhere(
    archive: FakeArchive, keys: KeyFiles, home: Path, tmp_path: Path
) -> None:
    archive.files = {file_id: ".bam" for file_id in HOSTILE_IDS}
    archive.files["GOOD1"] = "/../../escaped-by-extension"
    root = tmp_path / "root"
    output = root / "a" / "out"
    output.mkdir(parents=True)
    before = _tree(root)
    result = _download(_env(keys, home, archive.url), output, "--file-id", "GOOD1")
    # GOOD1 alone was asked for: its hostile extension is dropped, WPS (a 501) fails it
    assert result.exit_code == ExitCode.FAILED, result.output
    assert "the extension" in result.stderr and "is not used" in result.stderr
    result = _download(_env(keys, home, archive.url), output)
    assert result.exit_code == ExitCode.FAILED, result.output
    assert "Traceback" not in result.output
    for file_id in HOSTILE_IDS:
        assert file_id_problem(file_id), file_id
    assert result.stderr.count("cannot be saved") == len(HOSTILE_IDS)
    assert _tree(root) == before  # nothing written, inside or out
    # the good id was asked for (a work order token): names were judged one by one
    assert any("GOOD1" in path for _, path in archive.requests)


_ID_TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=30)
_IDS = st.lists(
    st.one_of(_ID_TEXT, st.sampled_from(["..", "/", "\\", ":", "CON", ".", " ", "nul"])),
    min_size=1,
    max_size=6,
).map("".join)


@settings(max_examples=400, deadline=None, derandomize=True)
@given(_IDS, st.one_of(st.none(), _ID_TEXT, st.sampled_from([".bam", "/../x", ".CON", "."])))
def test_any_name_the_server_sends_stays_in_the_output_directory(
    file_id: str, extension: str | None
) -> None:
    output = Path("/srv/out")
    if file_id_problem(file_id):
        with pytest.raises(ValueError):
            DownloadPaths.of(output, file_id, extension)
        return
    for path in DownloadPaths.of(output, file_id, extension).all():
        assert path.parent == output
        assert name_problem(path.name) is None, path.name


# ------------------------------------------------------------------ plain http


def test_plain_http_elsewhere_is_refused_before_any_connection(
    outside: _Listener, keys: KeyFiles, home: Path, tmp_path: Path
) -> None:
    result = _download(_env(keys, home, f"{outside.url}/wkvs"), tmp_path)
    assert result.exit_code == ExitCode.BAD_INPUT, result.output
    assert f"{outside.url} is a plain http:// address" in result.stderr
    assert "a-token" not in result.output
    assert outside.connections == 0


def test_plain_http_services_named_by_the_wkvs_are_refused_before_the_token_goes(
    archive: FakeArchive, outside: _Listener, keys: KeyFiles, home: Path, tmp_path: Path
) -> None:
    archive.values["wps_api_url"] = f"{outside.url}/wps"
    result = _download(_env(keys, home, archive.url), tmp_path)
    assert result.exit_code == ExitCode.BAD_INPUT, result.output
    assert "the wps_api_url the well-known values service gives" in result.stderr
    assert outside.connections == 0
    assert archive.requests == [("GET", "/values")]  # and nothing else was asked for


def test_loopback_http_is_used(archive: FakeArchive, keys: KeyFiles, home: Path, tmp_path: Path):
    """The control: over http://127.0.0.1 the connector does connect, and sends the token."""
    result = _download(_env(keys, home, archive.url), tmp_path)
    assert result.exit_code != ExitCode.BAD_INPUT, result.output
    assert ("GET", "/values") in archive.requests
    assert any("/work-packages/" in path for _, path in archive.requests)


def test_a_listener_on_loopback_sees_the_connection(keys: KeyFiles, home: Path, tmp_path: Path):
    """The listener does see connections when they are made (so zero above means none)."""
    listener = _Listener("127.0.0.1")
    try:
        result = _download(_env(keys, home, f"{listener.url}/wkvs"), tmp_path)
        assert result.exit_code == ExitCode.UNREACHABLE, result.output
        assert listener.connections >= 1
    finally:
        listener.close()


def test_presigned_urls_on_plain_http_elsewhere_are_not_requested(outside: _Listener) -> None:
    """Every request goes through Http.request, part uploads to presigned URLs too."""
    url = f"{outside.url}/inbox/F1?partNumber=1&X-Amz-Signature=abc"

    async def put() -> None:
        async with make_client() as client:
            await Http(client, RetryPolicy(retries=0)).request("PUT", url, service="S3")

    with pytest.raises(BadInput, match="plain http://") as refused:
        asyncio.run(put())
    assert "X-Amz-Signature" not in str(refused.value)
    assert outside.connections == 0


def test_range_downloads_on_plain_http_elsewhere_are_not_requested(outside: _Listener) -> None:
    connections = RangeConnections(timeout=5)
    try:
        with pytest.raises(BadInput, match="plain http://"):
            connections.get(f"{outside.url}/outbox/F1?X-Amz-Signature=abc", {})
    finally:
        connections.close()
    assert outside.connections == 0


@pytest.mark.parametrize(
    ("url", "refused"),
    [
        ("http://storage.example/outbox/F1?X-Amz-Signature=abc", True),
        ("http://10.0.0.5:9000/outbox/F1?X-Amz-Signature=abc", True),
        ("https://storage.example/outbox/F1?X-Amz-Signature=abc", False),
        ("http://127.0.0.1:8744/outbox/F1?X-Amz-Signature=abc", False),
    ],
)
def test_a_download_url_on_plain_http_elsewhere_is_refused_as_it_arrives(
    url: str, refused: bool
) -> None:
    body = {
        "id": "F1",
        "size": 124,
        "access_methods": [{"type": "s3", "access_url": {"url": url}}],
    }
    if refused:
        with pytest.raises(BadInput, match="plain http://") as error:
            parse_drs_object("F1", body)
        assert "X-Amz-Signature" not in str(error.value)
    else:
        assert parse_drs_object("F1", body).url == url


def test_a_weak_archive_key_from_the_wkvs_is_never_used(
    archive: FakeArchive, keys: KeyFiles, home: Path, tmp_path: Path
) -> None:
    """A hostile or broken WKVS that publishes a small-order key (anyone could open what is
    encrypted to it) stops the run before anything else is asked for or sent."""
    archive.values["crypt4gh_public_keys"] = {"archive": encode_key(bytes(32))}
    result = _download(_env(keys, home, archive.url), tmp_path)
    assert result.exit_code not in (ExitCode.OK, ExitCode.BAD_INPUT), result.output
    assert "small order" in result.stderr and "Traceback" not in result.output
    assert archive.requests == [("GET", "/values")]
