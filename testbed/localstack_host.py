"""LocalStack in host mode (no Docker) for ``fs-stack up --backend localstack-host``.

LocalStack 4.9 runs as a plain Python process for S3, SQS and SNS; unlike moto it checks
the signatures of presigned URLs. Its DynamoDB and Lambda need Docker or downloads, so in
this mode DynamoDB stays on moto and the functions run in the local runtime. LocalStack
lives in its own virtual environment (``make localstack-venv``: ``.venv-localstack``),
because its pins clash with ours.
"""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
VENV = REPO / ".venv-localstack"
PYTHON_ENV = "FS_LOCALSTACK_PYTHON"
SERVICES = ("s3", "sqs", "sns")
# presigned URLs are checked against LocalStack's secret key "test" (its account:
# infra/chalice_project.py LOCALSTACK_ACCOUNT)
ACCESS_KEY = SECRET_KEY = "test"  # noqa: S105 - LocalStack's fixed, public test credentials


class LocalStackMissing(RuntimeError):
    """LocalStack is not installed where we look; the message says how to install it."""


def python() -> Path:
    """The interpreter of LocalStack's own environment."""
    configured = os.environ.get(PYTHON_ENV)
    candidate = Path(configured) if configured else VENV / "bin" / "python"
    if not candidate.exists():
        raise LocalStackMissing(
            f"LocalStack is not installed ({candidate} does not exist); "
            "run `make localstack-venv` or set FS_LOCALSTACK_PYTHON"
        )
    return candidate


def command(host: str, port: int, state_dir: Path) -> tuple[list[str], dict[str, str]]:
    """Arguments and the whole environment to start LocalStack on ``host:port`` only."""
    root = state_dir / "localstack"
    root.mkdir(parents=True, exist_ok=True)
    # nothing of ours (AWS endpoints, credentials) may leak into LocalStack's own clients
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "FS_"))}
    env.update(
        {
            "OVERRIDE_IN_DOCKER": "0",
            "FILESYSTEM_ROOT": str(root),
            "GATEWAY_LISTEN": f"{host}:{port}",
            # the default (twisted) server ignores the host and listens on every interface
            "GATEWAY_SERVER": "hypercorn",
            "LOCALSTACK_HOST": f"{host}:{port}",
            "SERVICES": ",".join(SERVICES),
            "S3_SKIP_SIGNATURE_VALIDATION": "0",
            "SQS_ENDPOINT_STRATEGY": "path",  # queue URLs on host:port, not a DNS name
            "DNS_ADDRESS": "0",  # no DNS server of its own
            "SKIP_SSL_CERT_DOWNLOAD": "1",
            "DISABLE_EVENTS": "1",  # no analytics
            "HOME": str(root),
        }
    )
    return [str(python()), "-m", "localstack.runtime.main"], env


def aws_environment(localstack_url: str, moto_url: str) -> dict[str, str]:
    """Per-service endpoints: S3, SQS and SNS on LocalStack, DynamoDB on moto."""
    env = {
        "AWS_ENDPOINT_URL": moto_url,
        "AWS_ENDPOINT_URL_DYNAMODB": moto_url,
        "AWS_ACCESS_KEY_ID": ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
    }
    for service in SERVICES:
        env[f"AWS_ENDPOINT_URL_{service.upper()}"] = localstack_url
    return env
