"""One IRS invocation in a process of its own, so that its wall time and peak RSS are the
invocation's (``python -m bench.irs_worker --endpoints F --event F [--publish]``).

It is wired exactly as the Lambda is (functions/irs/inject.py ``inject()``, the same
IRS_* settings, real S3, DynamoDB and EKSS), except: one invocation may stage the whole
file (no part limit, no time budget), and without ``--publish`` the outcome is recorded
instead of published, so that repeated runs leave the pipeline alone. Prints one JSON
line: seconds, the invocation's CPU seconds (every thread, the interpreter's start-up and
imports left out) and where they went (bench/irs_cpu.py), the outcome, staged parts,
continuations sent.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any


class Recorder:
    """Stands in for the event publisher and the continuation queue."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, Any]] = []

    def publish(self, event: Any, key: str | None = None) -> str:
        self.sent.append((type(event).__name__, event.model_dump()))
        return key or event.file_id

    def send(self, body: str, delay_s: int = 0) -> str:
        self.sent.append(("continuation", body))
        return "0"


def environment(endpoints: dict[str, Any]) -> dict[str, str]:
    """IRS's environment on this stack, as testbed/environment.py builds it."""
    from shared.resources import MOTO_ACCOUNT, PREFIX_ENV, function_environment

    aws, dynamo = endpoints["aws_endpoint_url"], endpoints.get("dynamodb_endpoint_url")
    env = {
        "AWS_ENDPOINT_URL": dynamo or aws,
        "AWS_ENDPOINT_URL_S3": aws,
        # the seaweedfs backend has S3 alone on SeaweedFS, SQS and SNS on moto
        "AWS_ENDPOINT_URL_SQS": endpoints.get("sqs_endpoint_url") or aws,
        "AWS_ENDPOINT_URL_SNS": endpoints.get("sns_endpoint_url") or aws,
        "AWS_ACCESS_KEY_ID": endpoints.get("aws_access_key_id", "testing"),
        "AWS_SECRET_ACCESS_KEY": endpoints.get("aws_secret_access_key", "testing"),
        "AWS_DEFAULT_REGION": endpoints["aws_region"],
        "AWS_REGION": endpoints["aws_region"],
        PREFIX_ENV: endpoints["resource_prefix"],
        "IRS_EKSS_URL": endpoints["ekss_url"],
        "IRS_EKSS_TOKEN": endpoints["irs_ekss_token"],
        "IRS_MAX_PARTS_PER_INVOCATION": "0",
        "IRS_INVOCATION_BUDGET_S": str(24 * 3600),
        "IRS_LOG_LEVEL": "WARNING",
    }
    if dynamo:
        env["AWS_ENDPOINT_URL_DYNAMODB"] = dynamo
    env.update(
        function_environment(
            "irs",
            region=endpoints["aws_region"],
            account=endpoints.get("aws_account", MOTO_ACCOUNT),
            pfx=endpoints["resource_prefix"],
        )
    )
    return env


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.irs_worker", description=__doc__.splitlines()[0])
    parser.add_argument("--endpoints", type=Path, required=True)
    parser.add_argument("--event", type=Path, required=True, help="FileUploadReceived payload")
    parser.add_argument("--size", type=int, required=True, help="the inbox object's size")
    parser.add_argument("--publish", action="store_true", help="publish the outcome for real")
    args = parser.parse_args(argv)
    endpoints = json.loads(args.endpoints.read_text())
    os.environ.update(environment(endpoints))

    from bench.irs_cpu import Ledger, instrument
    from functions.irs.inject import inject
    from functions.irs.model import Upload
    from shared.events import FileUploadReceived

    ledger = Ledger()
    instrument(ledger)
    irs = inject().interrogator
    recorder = Recorder()
    irs.continuations = recorder
    if not args.publish:
        irs.publisher = recorder
    upload = Upload.from_event(FileUploadReceived(**json.loads(args.event.read_text())))
    started, cpu_started = time.perf_counter(), time.process_time()
    irs.object_created(upload.object_id, args.size)
    irs.upload_received(upload)
    seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
    record = irs.repository.get(upload.object_id)
    print(
        json.dumps(
            {
                "seconds": seconds,
                "cpu_seconds": cpu_seconds,
                "cpu_breakdown": ledger.breakdown(cpu_seconds),
                "state": record.state if record else None,
                "reason": record.reason if record else None,
                "parts": record.parts_staged if record else 0,
                "staged_object_id": record.staged_object_id if record else None,
                "continuations": sum(1 for kind, _ in recorder.sent if kind == "continuation"),
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
