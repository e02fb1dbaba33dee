"""boto3 clients configured once: endpoint from the environment, path-style S3."""

from __future__ import annotations

import os
from functools import cache
from typing import Any

import boto3
from botocore.config import Config as BotoConfig

DEFAULT_REGION = "eu-central-1"


def region() -> str:
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or DEFAULT_REGION


def endpoint_for(service: str) -> str | None:
    """AWS_ENDPOINT_URL_<SERVICE> or AWS_ENDPOINT_URL, as boto3 itself resolves them."""
    return os.environ.get(f"AWS_ENDPOINT_URL_{service.upper()}") or os.environ.get(
        "AWS_ENDPOINT_URL"
    )


@cache
def client(service: str, endpoint_url: str | None = None) -> Any:
    """A shared, thread-safe boto3 client for ``service``."""
    config = BotoConfig(
        region_name=region(),
        signature_version="s3v4" if service == "s3" else None,
        # S3 bodies are not hashed for the signature (botocore would over plain HTTP, as in
        # the testbed): the only body we send, a staged part, is checked by its ETag, which
        # IRS compares with the part's MD5 (functions/irs/stream.py)
        s3={"addressing_style": "path", "payload_signing_enabled": False}
        if service == "s3"
        else None,
        retries={"max_attempts": 5, "mode": "standard"},
        max_pool_connections=32,
        # no CRC32 of every body, which botocore sends by default since 1.36: another pass
        # over each part on both ends, where the ETag check above does the same job
        request_checksum_calculation="when_required",
    )
    return boto3.session.Session().client(
        service, endpoint_url=endpoint_url or endpoint_for(service), config=config
    )
