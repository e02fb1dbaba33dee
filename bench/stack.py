"""The harness's handle on a stack: start one (or attach to a running one), act as the
operator, and reach its object storage directly.

Why not the tests' helpers: bench/ must not import from tests/; what it needs of the
operator's side is a few HTTP calls, kept here.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import httpx
from botocore.config import Config

from shared.crypt.keys import encode_key, generate_keypair, private_key_pem, public_key_pem
from shared.crypt.sealedbox import unseal
from shared.resources import bucket_name
from testbed.process import StackProcess, start_stack_process


@dataclass
class BenchUser:
    """A Crypt4GH key pair, also as unencrypted key files (no passphrase prompt)."""

    private_key: bytes
    public_key: bytes
    public_path: Path
    private_path: Path

    @classmethod
    def create(cls, directory: Path) -> BenchUser:
        directory.mkdir(parents=True, exist_ok=True)
        private, public = generate_keypair()
        public_path, private_path = directory / "key.pub", directory / "key.sec"
        public_path.write_text(public_key_pem(public))
        private_path.write_text(private_key_pem(private))
        private_path.chmod(0o600)
        return cls(private, public, public_path, private_path)


def s3_client(endpoints: dict[str, Any]) -> Any:
    """boto3 on the stack's S3, as plain as boto3 gets: path style, checksums only where
    S3 requires them (the raw ceiling should not pay for extras the connectors skip)."""
    return boto3.client(
        "s3",
        endpoint_url=endpoints["aws_endpoint_url"],
        region_name=endpoints["aws_region"],
        aws_access_key_id=endpoints.get("aws_access_key_id", "testing"),
        aws_secret_access_key=endpoints.get("aws_secret_access_key", "testing"),
        config=Config(
            signature_version="s3v4",
            s3={"addressing_style": "path"},
            max_pool_connections=64,
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        ),
    )


class BenchStack:
    def __init__(self, endpoints: dict[str, Any], process: StackProcess | None = None) -> None:
        self.endpoints = endpoints
        self.process = process
        self.backend: str = endpoints.get("backend", "embedded")
        self.http = httpx.Client(
            headers={"Authorization": f"Bearer {endpoints['operator_token']}"}, timeout=60
        )
        self.s3 = s3_client(endpoints)

    @classmethod
    def start(cls, state_dir: Path, backend: str) -> BenchStack:
        process = start_stack_process(state_dir, "--backend", backend, timeout=180)
        return cls(process.endpoints, process)

    @classmethod
    def attach(cls, endpoints_file: Path) -> BenchStack:
        return cls(json.loads(endpoints_file.read_text()))

    def stop(self) -> None:
        self.http.close()
        if self.process is not None:
            self.process.stop()

    # ------------------------------------------------------------ resources

    def bucket(self, key: str) -> str:
        return bucket_name(key, self.endpoints["resource_prefix"])

    def ensure_bucket(self, name: str) -> str:
        existing = {b["Name"] for b in self.s3.list_buckets().get("Buckets", [])}
        if name not in existing:
            self.s3.create_bucket(
                Bucket=name,
                CreateBucketConfiguration={"LocationConstraint": self.endpoints["aws_region"]},
            )
        return name

    def delete_object(self, bucket: str, key: str) -> None:
        self.s3.delete_object(Bucket=bucket, Key=key)

    def set_interrogation(self, running: bool) -> None:
        """Pause or resume the stack's own IRS consumer: the harness runs IRS itself, in a
        process of its own, so that its time and memory are the invocation's alone."""
        action = "resume" if running else "pause"
        url = f"{self.endpoints['api_url']}/_runtime/consumers/irs/{action}"
        response = httpx.post(url, timeout=30)
        if response.status_code != 200 or response.json().get("paused") is running:
            raise RuntimeError(f"could not {action} IRS: {response.status_code} {response.text}")

    # ------------------------------------------------------------ the operator's side

    def create_box(self) -> str:
        response = self.http.post(
            f"{self.endpoints['ucs_url']}/boxes", json={"max_size": 64 * 1024**3}
        )
        response.raise_for_status()
        return response.json()["id"]

    def work_package(self, user: BenchUser, **body: Any) -> str:
        """A work package for ``user``; what the user pastes: ``<id>:<sealed token>``."""
        response = self.http.post(
            f"{self.endpoints['wps_url']}/work-packages",
            json={"user_public_crypt4gh_key": encode_key(user.public_key), **body},
        )
        response.raise_for_status()
        created = response.json()
        return f"{created['id']}:{created['token']}"

    def upload_wpat(self, user: BenchUser) -> tuple[str, str]:
        """(box id, pasteable WPAT) of a fresh box: every measured upload gets its own."""
        box_id = self.create_box()
        return box_id, self.work_package(user, type="upload", file_upload_box_id=box_id)

    def uploads(self, box_id: str) -> list[dict[str, Any]]:
        response = self.http.get(f"{self.endpoints['ucs_url']}/boxes/{box_id}/uploads")
        response.raise_for_status()
        return response.json()["items"]

    def only_upload(self, box_id: str) -> dict[str, Any]:
        items = self.uploads(box_id)
        if len(items) != 1:
            raise RuntimeError(f"box {box_id} holds {len(items)} uploads, expected one")
        return items[0]

    def wait_downloadable(
        self, user: BenchUser, wpat: str, file_id: str, timeout: float = 900
    ) -> dict[str, Any]:
        """Ask DCS for the file until it is staged (the first ask requests staging); the
        DRS object. Done before timing, so downloads measure transfer, not staging."""
        package_id, _, sealed = wpat.partition(":")
        access = unseal(sealed, user.private_key)
        wps, dcs = self.endpoints["wps_url"], self.endpoints["dcs_url"]
        deadline = time.monotonic() + timeout
        while True:
            wot = httpx.post(
                f"{wps}/work-packages/{package_id}/files/{file_id}/work-order-tokens",
                headers={"Authorization": f"Bearer {access}"},
                timeout=60,
            )
            wot.raise_for_status()
            token = unseal(wot.json(), user.private_key)
            answer = httpx.get(
                f"{dcs}/objects/{file_id}", headers={"Authorization": f"Bearer {token}"}, timeout=60
            )
            if answer.status_code == 200:
                return answer.json()
            if answer.status_code not in (202, 404) or time.monotonic() > deadline:
                raise RuntimeError(f"file {file_id} not downloadable: {answer.status_code}")
            time.sleep(0.5)
