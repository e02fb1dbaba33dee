"""Looking for a file everywhere it could be: every bucket, every table, Vault.

The tests of the deletion flow upload real Crypt4GH files through UCS (as a submitter's
client does), let the stack's own IRS, IFRS, DCS and EKSS work on them, and then ask
``Archive.traces`` what is left of one file. It reads the stack's storage directly (boto3,
hvac), never through the services under test.
"""

from __future__ import annotations

import contextlib
import hashlib
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hvac
from hvac.exceptions import InvalidPath

from shared.manifest import manifest_key
from shared.resources import bucket_name, table_name
from tests.irs.helpers import SECRETS_PATH, encrypt_file, random_bytes
from tests.support import EventStream, aws
from tests.ucs.helpers import Payload, Submitter

PART_SIZE = 5_245_120  # 80 cipher segments: the smallest part, so that files have parts
BUCKETS = ("inbox", "staging", "permanent", "outbox")
TRAIL = (
    "FileInterrogationSuccess",
    "FileInterrogationFailure",
    "FileInternallyRegistered",
    "FileStagedForDownload",
    "FileDeletionRequested",
    "FileDeletionConfirmed",
    "FileDeleted",
)


@dataclass
class RealUpload:
    """A real Crypt4GH file of the submitter's, cut into UCS parts."""

    plain: bytes
    payload: Payload

    @classmethod
    def new(cls, submitter: Submitter, archive_public: bytes, size: int, seed: int) -> RealUpload:
        plain = random_bytes(size, seed)
        data = encrypt_file(plain, submitter.user.private_key, archive_public)
        parts = [data[i : i + PART_SIZE] for i in range(0, len(data), PART_SIZE)]
        return cls(plain, Payload(len(plain), PART_SIZE, parts))

    def close_body(self) -> dict[str, Any]:
        return self.payload.close_body(hashlib.sha256(self.plain).hexdigest())


def upload(submitter: Submitter, alias: str, real: RealUpload, overwrite: bool = False) -> str:
    """Create, send every part and close, through UCS: the upload is in the inbox."""
    file_id = submitter.created(alias, real.payload, overwrite=overwrite)
    submitter.put_parts(file_id, real.payload)
    closed = submitter.close(file_id, real.close_body())
    assert closed.status_code == 204, closed.text
    return file_id


@dataclass
class Archive:
    endpoints: dict[str, Any]
    s3: Any = field(init=False)
    dynamodb: Any = field(init=False)
    vault: hvac.Client = field(init=False)

    def __post_init__(self) -> None:
        self.s3 = aws(self.endpoints, "s3")
        self.dynamodb = aws(self.endpoints, "dynamodb")
        self.vault = hvac.Client(
            url=self.endpoints["vault_addr"], token=self.endpoints["vault_token"]
        )

    def _bucket(self, key: str) -> str:
        return bucket_name(key, self.endpoints["resource_prefix"])

    def _table(self, key: str) -> str:
        return table_name(key, self.endpoints["resource_prefix"])

    def item(self, table: str, key: dict[str, str]) -> dict[str, Any] | None:
        found = self.dynamodb.get_item(
            TableName=self._table(table),
            Key={name: {"S": value} for name, value in key.items()},
            ConsistentRead=True,
        )
        return found.get("Item")

    def ids_of(self, file_id: str, stream: EventStream | None = None) -> tuple[set[str], set[str]]:
        """(object keys, secret ids) the file has had, from the records and events seen."""
        keys, secrets = {file_id}, set()
        irs = self.item("interrogations", {"object_key": file_id}) or {}
        for name, into in (("staged_object_id", keys), ("secret_id", secrets)):
            if name in irs and "S" in irs[name]:
                into.add(irs[name]["S"])
        ifrs = self.item("files", {"file_id": file_id}) or {}
        if "object_id" in ifrs and "S" in ifrs["object_id"]:
            keys.add(ifrs["object_id"]["S"])
        for event in stream.events(key=file_id) if stream is not None else []:
            for name in ("staged_object_id", "object_id", "target_object_id"):
                if event.payload.get(name):
                    keys.add(event.payload[name])
            if event.payload.get("secret_id"):
                secrets.add(event.payload["secret_id"])
        return keys, secrets

    def traces(self, file_id: str, keys: set[str], secret_ids: set[str]) -> list[str]:
        """Everything of the file still stored somewhere (empty: it is gone)."""
        found: list[str] = []
        for key in BUCKETS:
            bucket = self._bucket(key)
            # each object, and the part manifest beside it (shared/manifest.py)
            for object_key in sorted(keys | {manifest_key(k) for k in keys}):
                with contextlib.suppress(self.s3.exceptions.ClientError):
                    self.s3.head_object(Bucket=bucket, Key=object_key)
                    found.append(f"object {object_key} in {key}")
            listed = self.s3.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
            found += [
                f"open multipart upload {u['Key']} in {key}" for u in listed if u["Key"] in keys
            ]
        sensitive = {"upload", "secret_id", "wrapped_secret", "decrypted_sha256", "interrogation"}
        for table, key in (
            ("interrogations", {"object_key": file_id}),
            ("files", {"file_id": file_id}),
            ("drs_objects", {"file_id": file_id}),
        ):
            item = self.item(table, key)
            if item is None:
                continue
            if item.get("state", {}).get("S") != "deleted":
                found.append(f"{table} record in state {item.get('state')}")
            kept = sorted(name for name in sensitive & set(item) if "NULL" not in item[name])
            if kept:
                found.append(f"{table} tombstone keeps {kept}")
        pages = self.dynamodb.get_paginator("scan").paginate(
            TableName=self._table("drs_objects"),
            FilterExpression="begins_with(file_id, :prefix)",
            ExpressionAttributeValues={":prefix": {"S": f"envelope#{file_id}#"}},
            ConsistentRead=True,
        )
        found += [f"envelope {e['file_id']['S'][:60]}" for page in pages for e in page["Items"]]
        parts = self.dynamodb.query(  # IRS's staged part items (one per part)
            TableName=self._table("interrogation_parts"),
            KeyConditionExpression="object_key = :key",
            ExpressionAttributeValues={":key": {"S": file_id}},
            ConsistentRead=True,
            Select="COUNT",
        )["Count"]
        if parts:
            found.append(f"{parts} interrogation_parts items")
        for secret_id in secret_ids:
            found += [f"secret {secret_id}: {what}" for what in self._secret_versions(secret_id)]
        return found

    def _secret_versions(self, secret_id: str) -> Iterator[str]:
        path = f"{SECRETS_PATH}/{secret_id}"
        kv = self.vault.secrets.kv.v2
        try:
            metadata = kv.read_secret_metadata(path=path)["data"]
        except InvalidPath:
            return
        for version in metadata.get("versions", {}):
            try:
                data = kv.read_secret_version(
                    path=path, version=int(version), raise_on_deleted_version=True
                )["data"]["data"]
            except InvalidPath:
                continue
            if "secret" in data:
                yield f"version {version} holds key material"


def fs_admin(endpoints_dir: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(Path(sys.executable).parent / "fs-admin"), "--state-dir", str(endpoints_dir), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
