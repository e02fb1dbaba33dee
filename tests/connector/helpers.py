"""Helpers of the connector tests: key files, access tokens, the stack's inbox and Vault,
running the CLI, and a recording HTTP proxy that can hold part uploads back."""

from __future__ import annotations

import base64
import http.client
import os
import subprocess
import sys
import threading
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
from crypt4gh.keys import c4gh as c4gh_keys
from crypt4gh.keys import get_private_key, get_public_key

from shared.crypt.sealedbox import seal
from shared.resources import bucket_name
from tests.support import Operator, User, aws

BIN = Path(sys.executable).parent
PART_SIZE = 5_245_120  # the smallest part size: 80 cipher segments, just above 5 MiB


@dataclass
class KeyFiles:
    public: Path
    private: Path
    user: User


def make_keys(directory: Path, name: str = "key", passphrase: str | None = None) -> KeyFiles:
    """A Crypt4GH key pair written by the crypt4gh library (encrypted if a passphrase)."""
    directory.mkdir(parents=True, exist_ok=True)
    public, private = directory / f"{name}.pub", directory / f"{name}.sec"
    c4gh_keys.generate(str(private), str(public), passphrase.encode() if passphrase else b"", None)
    raw_private = get_private_key(str(private), lambda: passphrase or "")
    return KeyFiles(public, private, User(raw_private, get_public_key(str(public))))


def write_raw_private_key(path: Path, private_key: bytes) -> Path:
    """An unencrypted Crypt4GH private key file for a raw key (for `crypt4gh decrypt`)."""
    encoded = (
        c4gh_keys.MAGIC_WORD
        + c4gh_keys.encode_string(b"none")
        + c4gh_keys.encode_string(b"none")
        + c4gh_keys.encode_string(private_key)
    )
    path.write_bytes(
        b"-----BEGIN CRYPT4GH PRIVATE KEY-----\n"
        + base64.b64encode(encoded)
        + b"\n-----END CRYPT4GH PRIVATE KEY-----\n"
    )
    return path


@dataclass
class UploadBox:
    box_id: str
    package_id: str
    plain_token: str
    wpat: str  # what the user pastes: "<package id>:<sealed token>"
    keys: KeyFiles


def upload_box(operator: Operator, keys: KeyFiles, **box: Any) -> UploadBox:
    box_id = operator.create_box(**box)
    package_id, token = operator.upload_package(keys.user, box_id)
    wpat = f"{package_id}:{seal(token, keys.user.public_key)}"
    return UploadBox(box_id, package_id, token, wpat, keys)


def archive_private_key(endpoints: dict[str, Any]) -> bytes:
    response = httpx.get(
        f"{endpoints['vault_addr']}/v1/secret/data/fs/ekss/archive-keys/archive",
        headers={"X-Vault-Token": endpoints["vault_token"]},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    return base64.b64decode(response.json()["data"]["data"]["private_key"])


def s3(endpoints: dict[str, Any]):
    return aws(endpoints, "s3")


def inbox_bucket(endpoints: dict[str, Any]) -> str:
    return bucket_name("inbox", endpoints["resource_prefix"])


def inbox_object(endpoints: dict[str, Any], file_id: str) -> bytes:
    return s3(endpoints).get_object(Bucket=inbox_bucket(endpoints), Key=file_id)["Body"].read()


def decrypt_with_tool(encrypted: Path, private_key_file: Path, output: Path) -> None:
    """Decrypt with the standard `crypt4gh` command line tool, streaming file to file."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("C4GH_")}
    with encrypted.open("rb") as source, output.open("wb") as target:
        result = subprocess.run(
            [str(BIN / "crypt4gh"), "decrypt", "--sk", str(private_key_file)],
            stdin=source,
            stdout=target,
            stderr=subprocess.PIPE,
            env=env,
            timeout=300,
            check=False,
        )
    assert result.returncode == 0, result.stderr.decode()


def connector_env(
    endpoints: dict[str, Any], box: UploadBox, home: Path, **extra: str
) -> dict[str, str]:
    """Environment for a connector run: token, WKVS URL, private state and config dirs."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("FS_CONNECTOR_") and k.lower() not in ("http_proxy", "all_proxy")
    }
    env.update(
        {
            "HOME": str(home),
            "XDG_STATE_HOME": str(home / "state"),
            "FS_CONNECTOR_WPAT": box.wpat,
            "FS_CONNECTOR_WKVS_URL": endpoints["wkvs_url"],
            "FS_CONNECTOR_MY_PUBLIC_KEY_PATH": str(box.keys.public),
            "FS_CONNECTOR_MY_PRIVATE_KEY_PATH": str(box.keys.private),
            "FS_CONNECTOR_PART_SIZE": str(PART_SIZE),
            "NO_PROXY": "",
            "no_proxy": "",
        }
    )
    env.update(extra)
    return env


def run_cli(
    args: list[str], env: dict[str, str], timeout: float = 300
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(BIN / "fs-connector"), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


# ------------------------------------------------------------------ a recording proxy


class RecordingProxy:
    """A forward HTTP proxy (plain http only) that records every request.

    Part PUTs beyond ``allow_puts`` are held until ``release()`` and then refused with
    503 without reaching S3, so a test knows exactly which parts got stored before it
    interrupts the connector.
    """

    def __init__(self) -> None:
        self.log: list[tuple[str, str, int]] = []  # (method, url, status)
        self.allow_puts: int | None = None
        self.fail_first: int | None = None  # status for the first PUT of every part
        # rewrites each part PUT's body on its way to S3: (part number, body) -> body
        self.alter: Callable[[int, bytes], bytes] | None = None
        self._failed: set[str] = set()
        self.held = threading.Event()  # set when a PUT is being held back
        self._release = threading.Event()
        self._lock = threading.Lock()
        self._puts = 0
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _any(self) -> None:
                proxy._handle(self)

            do_GET = do_PUT = do_POST = do_PATCH = do_DELETE = do_HEAD = _any

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def puts(self, status: int | None = 200) -> list[int]:
        """Part numbers of the PUTs that got ``status``."""
        with self._lock:
            return [
                int(urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)["partNumber"][0])
                for method, url, code in self.log
                if method == "PUT" and (status is None or code == status)
            ]

    def release(self) -> None:
        self._release.set()

    def close(self) -> None:
        self.release()
        self.server.shutdown()
        self.server.server_close()

    def _handle(self, request: BaseHTTPRequestHandler) -> None:
        length = int(request.headers.get("Content-Length") or 0)
        body = request.rfile.read(length) if length else b""
        url = request.path
        if request.command == "PUT" and "partNumber=" in url:
            part = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)["partNumber"][0]
            with self._lock:
                fail = self.fail_first is not None and part not in self._failed
                self._failed.add(part)
            if fail:
                self._reply(request, self.fail_first, b"try again", [("Retry-After", "0")])
                self._record(request.command, url, self.fail_first)
                return
            with self._lock:
                self._puts += 1
                hold = self.allow_puts is not None and self._puts > self.allow_puts
            if hold:
                self.held.set()
                self._release.wait(120)
                self._reply(request, 503, b"held back by the test proxy")
                self._record(request.command, url, 503)
                return
            if self.alter is not None:
                body = self.alter(int(part), body)
        target = urllib.parse.urlsplit(url)
        connection = http.client.HTTPConnection(target.hostname, target.port, timeout=120)
        path = target.path + (f"?{target.query}" if target.query else "")
        connection.putrequest(request.command, path, skip_host=True, skip_accept_encoding=True)
        for name, value in request.headers.items():
            if not name.lower().startswith("proxy-") and name.lower() != "connection":
                connection.putheader(name, value)
        connection.endheaders(body)
        response = connection.getresponse()
        data = response.read()
        headers = [
            (k, v)
            for k, v in response.getheaders()
            if k.lower() not in ("transfer-encoding", "connection", "content-length")
        ]
        connection.close()
        self._record(request.command, url, response.status)
        self._reply(request, response.status, data, headers)

    def _record(self, method: str, url: str, status: int) -> None:
        with self._lock:
            self.log.append((method, url, status))

    @staticmethod
    def _reply(
        request: BaseHTTPRequestHandler,
        status: int,
        data: bytes,
        headers: list[tuple[str, str]] | None = None,
    ) -> None:
        try:
            request.send_response(status)
            for name, value in headers or []:
                request.send_header(name, value)
            request.send_header("Content-Length", str(len(data)))
            request.end_headers()
            request.wfile.write(data)
        except OSError:
            pass  # the connector went away (interrupted)
