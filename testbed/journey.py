"""The testbed journey (``make testbed``): the system end to end, as its users drive it.

Starts a stack (``fs-stack up`` on ``--backend``: by default SeaweedFS for S3, as
``make stack``), or uses a running one, on any backend, given ``--endpoints``; then
walks the journey through the real command-line tools over real HTTP, checks every
step, prints a short report and exits 0 only if all of it held. It walks twice on the
same stack, each time with its own box and work packages: with fs-connector, then with
GHGA's own ghga-connector (testbed/journey_ghga.py), since the archive promises to serve
both; ``--client`` picks one. The report (testbed/report.py) puts the walks side by side.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from shared.crypt.keys import encode_key, generate_keypair, private_key_pem, public_key_pem
from shared.crypt.sealedbox import unseal
from shared.events import ACCESS_ASSEMBLED, ACCESS_DRS_OBJECT, ACCESS_ENVELOPE
from testbed import journey_ghga
from testbed.events import EventStream
from testbed.ghga_client import GHGA_CONNECTOR, GhgaConnectorMissing, ghga_connector
from testbed.journey_base import Journey, JourneyFailed, Step, audit_reads
from testbed.journey_base import sha256_file as _sha256_file
from testbed.process import start_stack_process
from testbed.report import print_report
from testbed.stack import BACKENDS, DEFAULT_BACKEND

__all__ = ["Journey", "JourneyFailed", "Step", "main"]


def _jwt_claims(token: str) -> dict[str, Any]:
    return json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))


# ------------------------------------------------------------------ the steps


def make_user(journey: Journey) -> str:
    private, public = generate_keypair()
    (journey.workdir / "user.pub").write_text(public_key_pem(public))
    journey.facts["user_private"], journey.facts["user_public"] = private, public
    return "a fresh Crypt4GH key pair for the submitter"


def create_box(journey: Journey) -> str:
    box_id = journey.run("fs-admin", "create-box", "--max-size", str(10 * 1024**3)).strip()
    journey.facts["box_id"] = box_id
    return f"upload box {box_id}"


def create_upload_package(journey: Journey) -> str:
    pasted = journey.run(
        "fs-admin",
        "create-work-package",
        "--type",
        "upload",
        "--box",
        journey.facts["box_id"],
        "--user-public-key",
        str(journey.workdir / "user.pub"),
    ).strip()
    package_id, _, sealed = pasted.partition(":")
    if not sealed:
        raise JourneyFailed(f"fs-admin printed {pasted[:40]!r}…, not '<id>:<token>'")
    journey.facts["upload_wpat"] = pasted
    journey.facts["upload_package_id"] = package_id
    return f"work package {package_id} (token encrypted to the submitter's key)"


def exchange_for_work_order_tokens(journey: Journey) -> str:
    wps = journey.endpoints["wps_url"]
    package_id, _, sealed = journey.facts["upload_wpat"].partition(":")
    access_token = unseal(sealed, journey.facts["user_private"])
    auth = {"Authorization": f"Bearer {access_token}"}
    package = httpx.get(f"{wps}/work-packages/{package_id}", headers=auth, timeout=30)
    if package.status_code != 200:
        raise JourneyFailed(f"GET work package answered {package.status_code}: {package.text}")
    rdub = package.json()["research_data_upload_box_id"]
    kinds = []
    for body in ({"work_type": "view"}, {"work_type": "create", "alias": "journey.txt"}):
        response = httpx.post(
            f"{wps}/work-packages/{package_id}/boxes/{rdub}/work-order-tokens",
            json=body,
            headers=auth,
            timeout=30,
        )
        if response.status_code != 201:
            raise JourneyFailed(f"WOT {body} answered {response.status_code}: {response.text}")
        claims = _jwt_claims(unseal(response.json(), journey.facts["user_private"]))
        if claims["box_id"] != journey.facts["box_id"] or claims["work_type"] != body["work_type"]:
            raise JourneyFailed(f"WOT claims do not match the request: {claims}")
        if claims["user_public_crypt4gh_key"] != encode_key(journey.facts["user_public"]):
            raise JourneyFailed("WOT names another user's key")
        kinds.append(f"{claims['work_type']} (valid {claims['exp'] - claims['iat']}s)")
    return "work order tokens: " + ", ".join(kinds)


FILE_SIZES = {  # alias: plaintext bytes; from empty to several parts at the smallest part size
    "empty.bin": 0,
    "one-segment.txt": 65_536,
    "small.fastq": 1_234_567,
    "two-parts.bam": 5_245_120 + 1,
    "several-parts.cram": 24 * 1024**2 + 7,
}
TRACKED_EVENTS = (
    "FileUploadReceived",
    "FileInterrogationSuccess",
    "FileInterrogationFailure",
    "FileInternallyRegistered",
    "NonStagedFileRequested",
    "FileStagedForDownload",
    "FileDownloadServed",
    "FileDeletionConfirmed",
    "FileDeleted",
)
PURGED = "small.fastq"  # the file the operator deletes at the end of each walk


def write_key_files(journey: Journey) -> str:
    (journey.workdir / "user.sec").write_text(private_key_pem(journey.facts["user_private"]))
    (journey.workdir / "user.sec").chmod(0o600)
    return "the submitter's key files, as crypt4gh-keygen writes them"


def tap_events(journey: Journey) -> str:
    journey.facts["events"] = EventStream(journey.endpoints, TRACKED_EVENTS)
    return f"listening to {len(TRACKED_EVENTS)} event topics"


def make_files(journey: Journey) -> str:
    originals = journey.workdir / "originals"
    originals.mkdir()
    digests = {}
    for alias, size in FILE_SIZES.items():
        path = originals / alias
        with open(path, "wb") as out:
            remaining = size
            while remaining:
                chunk = os.urandom(min(remaining, 1024**2))
                out.write(chunk)
                remaining -= len(chunk)
        digests[alias] = _sha256_file(path)
    journey.facts["digests"] = digests
    total = sum(FILE_SIZES.values())
    return f"{len(FILE_SIZES)} files, {total / 1024**2:.1f} MiB in all"


def _connector_env(journey: Journey, pasted: str) -> dict[str, str]:
    return {
        "FS_CONNECTOR_WPAT": pasted,
        "FS_CONNECTOR_WKVS_URL": journey.endpoints["wkvs_url"],
        "FS_CONNECTOR_STATE_DIR": str(journey.workdir / "connector-state"),
        "FS_CONNECTOR_PART_SIZE": "5MiB",
        # a stack whose names for this machine are not loopback addresses (Docker LocalStack)
        "FS_CONNECTOR_ALLOW_HTTP_HOSTS": ",".join(
            journey.endpoints.get("connector_http_hosts", ())
        ),
    }


def _key_options(journey: Journey) -> list[str]:
    return [
        "--my-public-key-path",
        str(journey.workdir / "user.pub"),
        "--my-private-key-path",
        str(journey.workdir / "user.sec"),
    ]


def upload_files(journey: Journey) -> str:
    originals = journey.workdir / "originals"
    started = time.monotonic()
    journey.run(
        "fs-connector",
        "upload",
        *[str(originals / alias) for alias in FILE_SIZES],
        *_key_options(journey),
        "--quiet",
        env=_connector_env(journey, journey.facts["upload_wpat"]),
    )
    seconds = time.monotonic() - started
    journey.facts["upload_seconds"] = seconds
    total = sum(FILE_SIZES.values())
    return f"fs-connector upload: {total / 1024**2:.1f} MiB in {seconds:.1f}s"


def box_shows_the_uploads(journey: Journey) -> str:
    listed = json.loads(journey.run("fs-admin", "list-box", journey.facts["box_id"], "--json"))
    by_alias = {item["alias"]: item for item in listed}
    missing = set(FILE_SIZES) - set(by_alias)
    if missing:
        raise JourneyFailed(f"the box does not list {sorted(missing)}")
    for alias, item in by_alias.items():
        if item["state"] == "init" or item["decrypted_size"] != FILE_SIZES[alias]:
            raise JourneyFailed(f"{alias} is not closed in the box: {item}")
    journey.facts["file_ids"] = {alias: by_alias[alias]["id"] for alias in FILE_SIZES}
    states = sorted({item["state"] for item in listed})
    return f"all {len(listed)} uploads closed (states: {', '.join(states)})"


def interrogated_and_registered(journey: Journey) -> str:
    events: EventStream = journey.facts["events"]
    for alias, file_id in journey.facts["file_ids"].items():
        success = events.wait_for("FileInterrogationSuccess", file_id, timeout=300)
        if success.payload["decrypted_sha256"] != journey.facts["digests"][alias]:
            raise JourneyFailed(f"{alias}: interrogation reports another checksum")
        events.wait_for("FileInternallyRegistered", file_id, timeout=120)
        if events.events("FileInterrogationFailure", file_id):
            raise JourneyFailed(f"{alias}: interrogation also reported a failure")
    deadline = time.monotonic() + 60
    pending = dict(journey.facts["file_ids"])
    while pending:
        for alias, file_id in list(pending.items()):
            status = journey.run("fs-admin", "file-status", file_id).split()[0].rstrip(":")
            if status == "registered":
                del pending[alias]
        if pending and time.monotonic() > deadline:
            raise JourneyFailed(
                f"fs-admin file-status never showed registered for {sorted(pending)}"
            )
        if pending:
            time.sleep(0.5)
    return (
        "each file re-encrypted, checksum confirmed, registered (fs-admin file-status: registered)"
    )


def create_download_package(journey: Journey) -> str:
    args = ["fs-admin", "create-work-package", "--type", "download"]
    for file_id in journey.facts["file_ids"].values():
        args += ["--file-id", file_id]
    pasted = journey.run(*args, "--user-public-key", str(journey.workdir / "user.pub")).strip()
    journey.facts["download_wpat"] = pasted
    return f"download work package {pasted.partition(':')[0]} for {len(FILE_SIZES)} files"


def download_files(journey: Journey) -> str:
    out = journey.workdir / "downloads"
    out.mkdir()
    started = time.monotonic()
    journey.run(
        "fs-connector",
        "download",
        "--output-dir",
        str(out),
        *_key_options(journey),
        "--decrypt",
        "--quiet",
        env={
            **_connector_env(journey, journey.facts["download_wpat"]),
            "FS_CONNECTOR_MAX_WAIT": "300",
        },
    )
    seconds = time.monotonic() - started
    journey.facts["download_seconds"] = seconds
    total = sum(FILE_SIZES.values())
    return f"fs-connector download --decrypt: {total / 1024**2:.1f} MiB in {seconds:.1f}s"


def staging_really_happened(journey: Journey) -> str:
    events: EventStream = journey.facts["events"]
    events.settle()
    seen = journey.facts.setdefault("staging", {})  # alias: (requested, staged, served)
    package_id = journey.facts["download_wpat"].partition(":")[0]
    for alias, file_id in journey.facts["file_ids"].items():
        requested = events.events("NonStagedFileRequested", file_id)
        staged = events.events("FileStagedForDownload", file_id)
        served = events.events("FileDownloadServed", file_id)
        seen[alias] = (len(requested), len(staged), len(served))
        if len(requested) != 1:
            raise JourneyFailed(f"{alias}: {len(requested)} staging requests, expected exactly one")
        if not staged:
            raise JourneyFailed(f"{alias}: no FileStagedForDownload")
        if not served:
            raise JourneyFailed(f"{alias}: no FileDownloadServed")
        reads = audit_reads(events, file_id, package_id)
        if reads != {ACCESS_DRS_OBJECT: 1, ACCESS_ENVELOPE: 1}:
            raise JourneyFailed(
                f"{alias}: audited reads {reads}, expected one DRS object and one envelope"
            )
    return (
        "per file: one NonStagedFileRequested, then FileStagedForDownload, then exactly one "
        "FileDownloadServed for the DRS object and one for the envelope"
    )


def _download_token(journey: Journey, file_id: str) -> str:
    """A download work order token of the journey's download package, as a client gets it."""
    package_id, _, sealed = journey.facts["download_wpat"].partition(":")
    access = unseal(sealed, journey.facts["user_private"])
    wot = httpx.post(
        f"{journey.endpoints['wps_url']}/work-packages/{package_id}/files/{file_id}"
        "/work-order-tokens",
        headers={"Authorization": f"Bearer {access}"},
        timeout=30,
    )
    if wot.status_code != 201:
        raise JourneyFailed(f"download WOT answered {wot.status_code}: {wot.text}")
    return unseal(wot.json(), journey.facts["user_private"])


ASSEMBLED_FILE = "one-segment.txt"  # read through /assembled by a plain range reader
ASSEMBLED_READS = (None, None, "bytes=0-99", "bytes=0-99", "bytes=100-65599")


def assembled_reads_audited(journey: Journey) -> str:
    """A plain HTTP range reader: each distinct read is audited once, repeats are not."""
    file_id = journey.facts["file_ids"][ASSEMBLED_FILE]
    package_id = journey.facts["download_wpat"].partition(":")[0]
    for byte_range in ASSEMBLED_READS:
        headers = {"Authorization": f"Bearer {_download_token(journey, file_id)}"}
        if byte_range is not None:
            headers["Range"] = byte_range
        answer = httpx.get(
            f"{journey.endpoints['dcs_url']}/objects/{file_id}/assembled",
            headers={"Accept": "application/octet-stream", **headers},
            timeout=60,
        )
        if answer.status_code != (200 if byte_range is None else 206):
            raise JourneyFailed(f"/assembled {byte_range} answered {answer.status_code}")
    events: EventStream = journey.facts["events"]
    events.settle()
    reads = audit_reads(events, file_id, package_id)
    expected = {
        ACCESS_DRS_OBJECT: 1,
        ACCESS_ENVELOPE: 1,
        ACCESS_ASSEMBLED: 1,
        f"{ACCESS_ASSEMBLED} 0-99": 1,
        f"{ACCESS_ASSEMBLED} 100-65599": 1,
    }
    if reads != expected:
        raise JourneyFailed(f"{ASSEMBLED_FILE}: audited reads {reads}, expected {expected}")
    return (
        f"{len(ASSEMBLED_READS)} reads of /assembled (whole twice, 0-99 twice, 100-65599): "
        "three FileDownloadServed, one per distinct read"
    )


def downloads_equal_originals(journey: Journey) -> str:
    out = journey.workdir / "downloads"
    identical = journey.facts.setdefault("identical", {})
    for alias, file_id in journey.facts["file_ids"].items():
        decrypted = out / file_id
        if not decrypted.exists():
            found = sorted(p.name for p in out.iterdir())
            raise JourneyFailed(f"{alias}: no decrypted {file_id} in the output ({found})")
        identical[alias] = _sha256_file(decrypted) == journey.facts["digests"][alias]
        if not identical[alias]:
            raise JourneyFailed(f"{alias}: the download differs from the original")
    return f"all {len(FILE_SIZES)} downloads are byte-identical to their originals"


def operator_deletes_a_file(journey: Journey) -> str:
    """The archive removes one file everywhere; its requester then finds nothing."""
    file_id = journey.facts["file_ids"][PURGED]
    journey.run("fs-admin", "delete-file", file_id, "--reason", "journey", "--wait", "120")
    events: EventStream = journey.facts["events"]
    deleted = events.wait_for("FileDeleted", file_id, timeout=120)
    status = journey.run("fs-admin", "file-status", file_id).split()[0].rstrip(":")
    if status != "deleted":
        raise JourneyFailed(f"fs-admin file-status says {status!r} after FileDeleted")
    token = _download_token(journey, file_id)
    answer = httpx.get(
        f"{journey.endpoints['dcs_url']}/objects/{file_id}",
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    if answer.status_code != 404:
        raise JourneyFailed(f"DCS answered {answer.status_code} for the deleted file")
    holders = ", ".join(deleted.payload["confirmed_by"])
    return f"fs-admin delete-file {PURGED}: removed by {holders}; file-status deleted; DCS 404"


STEPS: list[tuple[str, Callable[[Journey], str]]] = [
    ("submitter key pair", make_user),
    ("key files", write_key_files),
    ("tap on the event stream", tap_events),
    ("operator creates an upload box", create_box),
    ("operator issues an upload work package", create_upload_package),
    ("the package opens and yields work order tokens", exchange_for_work_order_tokens),
    ("test files", make_files),
    ("upload with fs-connector", upload_files),
    ("the box lists them closed", box_shows_the_uploads),
    ("interrogation and registration", interrogated_and_registered),
    ("operator issues a download work package", create_download_package),
    ("download with fs-connector", download_files),
    ("staging happened, seen in the event stream", staging_really_happened),
    ("downloads equal the originals", downloads_equal_originals),
    ("reads of /assembled audited once each", assembled_reads_audited),
    ("operator deletes a file everywhere", operator_deletes_a_file),
]


# the same journey with GHGA's client: its upload, download and decrypt in place of ours
GHGA_STEPS = [
    replacement
    for name, action in STEPS
    for replacement in journey_ghga.CLIENT_STEPS.get(name, [(name, action)])
]
WALKS = {"ours": ("fs-connector", STEPS), "ghga": ("ghga-connector", GHGA_STEPS)}
CLIENTS = {"ours": ["ours"], "ghga": ["ghga"], "both": ["ours", "ghga"]}


# ------------------------------------------------------------------ driver


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="testbed-journey", description=__doc__.splitlines()[0])
    parser.add_argument("--endpoints", type=Path, help="endpoints.json of a running stack")
    parser.add_argument(
        "--backend",
        choices=BACKENDS,
        default=DEFAULT_BACKEND,
        help=f"the backend of the stack it starts (default {DEFAULT_BACKEND}, as fs-stack "
        "up's); not with --endpoints",
    )
    parser.add_argument(
        "--client",
        choices=sorted(CLIENTS),
        default="both",
        help="walk with fs-connector (ours), GHGA's ghga-connector (ghga), or both in turn",
    )
    parser.add_argument(
        "--ghga-connector",
        type=Path,
        default=GHGA_CONNECTOR,
        help=f"GHGA's client to run (default {GHGA_CONNECTOR})",
    )
    args = parser.parse_args(argv)
    if args.endpoints and args.backend != DEFAULT_BACKEND:
        parser.error("--backend names the stack the journey starts; --endpoints starts none")
    clients = CLIENTS[args.client]
    print(f"Testbed journey ({', '.join(WALKS[c][0] for c in clients)})", flush=True)
    if "ghga" in clients:
        try:
            ghga_connector(args.ghga_connector)
        except GhgaConnectorMissing as missing:
            print(f"\nJOURNEY FAILED: {missing}; `--client ours` walks without it", flush=True)
            return 1
    started = time.monotonic()
    process = None
    journeys: list[Journey] = []
    with tempfile.TemporaryDirectory(prefix="fs-journey-") as tmp:
        try:
            if args.endpoints:
                state_dir = args.endpoints.parent
                endpoints = json.loads(args.endpoints.read_text())
            else:
                state_dir = Path(tmp) / "stack"
                print(f"  … starting the stack (backend {args.backend})", flush=True)
                stack = start_stack_process(state_dir, "--backend", args.backend)
                process, endpoints = stack.process, stack.endpoints
                up_s = time.monotonic() - started
                print(f"  ✓ stack up, backend {args.backend} ({up_s:.1f}s)", flush=True)
            for client in clients:
                name, steps = WALKS[client]
                workdir = Path(tmp) / client
                workdir.mkdir()
                journey = Journey(endpoints, state_dir, workdir, client=name)
                journey.facts["ghga_connector"] = args.ghga_connector
                journeys.append(journey)
                try:
                    journey.walk(steps)
                finally:
                    journey.close()
        except (JourneyFailed, RuntimeError) as failure:
            print(f"\nJOURNEY FAILED: {failure}", flush=True)
            return 1
        finally:
            if process is not None:
                process.terminate()
                process.wait(timeout=30)
    names = [[name for name, _ in WALKS[c][1]] for c in clients]
    walks = list(zip(journeys, names, strict=True))
    return print_report(walks, FILE_SIZES, time.monotonic() - started)


if __name__ == "__main__":
    sys.exit(main())
