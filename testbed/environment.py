"""Every function's environment in the embedded stack, derived from the declaration.

On AWS the same variables are set per function by the IaC; here all functions
share one process, which works because every service reads only its own
prefix (``WPS_``, ``UCS_``, ...).

As on AWS, no secret is an environment value: every sensitive setting (infra/settings.py)
is put into the stack's SSM Parameter Store (moto) and the functions are given only the
parameter's name (``<VARIABLE>_PARAMETER``). EKSS's Vault token is not the root token but
one that carries EKSS's policy alone (testbed/vault.py).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

from infra.settings import to_parameters
from shared.resources import DECLARATION, PREFIX_ENV, function_environment
from shared.tokens import hash_secret

STORAGE_ALIAS = "archive"


@dataclass(frozen=True)
class StackSecrets:
    """Generated fresh for every stack; never committed, never logged."""

    operator_token: str
    irs_ekss_token: str  # IRS's credential at EKSS
    dcs_ekss_token: str  # DCS's, another one: EKSS refuses each on the other's routes
    vault_token: str  # Vault's root token: the stack's bootstrap and the tests only
    wot_private_pem: str
    wot_public_pem: str
    archive_public_key_b64: str


def stack_environment(
    *,
    api_url: str,
    aws_endpoint_url: str,
    vault_addr: str,
    region: str,
    account: str,
    prefix: str,
    secrets: StackSecrets,
    ekss_vault_token: str,
    overrides: Mapping[str, str] | None = None,
) -> tuple[dict[str, str], dict[str, str]]:
    """What the functions are given (parameter names in place of every secret), and the SSM
    parameters to put first (name -> value). ``overrides`` replace or add settings (a
    scaled-down stack's budgets, tests/scale: ``fs-stack up --setting NAME=VALUE``)."""
    env: dict[str, str] = {
        "AWS_ENDPOINT_URL": aws_endpoint_url,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": region,
        "AWS_REGION": region,
        PREFIX_ENV: prefix,
    }
    for function in DECLARATION.functions:
        env.update(function_environment(function.name, region=region, account=account, pfx=prefix))
    operator_hash = hash_secret(secrets.operator_token)
    env.update(
        {
            "WKVS_CRYPT4GH_PUBLIC_KEYS": json.dumps(
                {STORAGE_ALIAS: secrets.archive_public_key_b64}
            ),
            "WKVS_WPS_API_URL": f"{api_url}/wps",
            "WKVS_UCS_API_URL": f"{api_url}/ucs",
            "WKVS_DCS_API_URL": f"{api_url}/dcs",
            "WPS_SIGNING_KEY": secrets.wot_private_pem,
            "WPS_OPERATOR_TOKEN_SHA256": operator_hash,
            "UCS_WOT_PUBLIC_KEY": secrets.wot_public_pem,
            "UCS_OPERATOR_TOKEN_SHA256": operator_hash,
            "UCS_STORAGE_ALIAS": STORAGE_ALIAS,
            "UCS_MAX_OPEN_UPLOADS_PER_BOX": "10",
            "UCS_PART_URL_MAX_LIFETIME_S": "3600",
            "UCS_ABANDONED_UPLOAD_AGE_S": str(24 * 3600),
            "UCS_RETRY_AFTER_S": "5",
            "UCS_SERIALIZE_WRITES": "true",  # moto's DynamoDB is not atomic under concurrency
            "DCS_WOT_PUBLIC_KEY": secrets.wot_public_pem,
            "DCS_EKSS_URL": f"{api_url}/ekss",
            "DCS_EKSS_TOKEN": secrets.dcs_ekss_token,
            "DCS_API_URL": f"{api_url}/dcs",
            "DCS_PRESIGNED_URL_LIFETIME_S": "3600",
            # small files are staged within a second here; clients should not wait long
            "DCS_RETRY_AFTER_MIN_S": "1",
            "DCS_RETRY_AFTER_MAX_S": "60",
            "DCS_STAGING_BYTES_PER_S": "100000000",
            "DCS_STAGING_TIMEOUT_S": "600",
            "DCS_OUTBOX_MAX_AGE_S": str(24 * 3600),
            "DCS_MAX_RANGE_BYTES": str(4 * 1024 * 1024),
            "IRS_EKSS_URL": f"{api_url}/ekss",
            "IRS_EKSS_TOKEN": secrets.irs_ekss_token,
            # hand on after two staged parts, so that every upload of more than two parts
            # takes the path of files too large for one Lambda invocation
            "IRS_MAX_PARTS_PER_INVOCATION": "2",
            # and staged parts as small as the upload's, so that small files have several
            "IRS_MIN_STAGING_PART_SIZE": "0",
            "EKSS_VAULT_URL": vault_addr,
            "EKSS_VAULT_TOKEN": ekss_vault_token,  # not the root token: testbed/vault.py
            "EKSS_IRS_TOKEN_SHA256": hash_secret(secrets.irs_ekss_token),
            "EKSS_DCS_TOKEN_SHA256": hash_secret(secrets.dcs_ekss_token),
            "EKSS_WOT_PUBLIC_KEY": secrets.wot_public_pem,
            "EKSS_STORAGE_ALIAS": STORAGE_ALIAS,
        }
    )
    env.update(overrides or {})
    return to_parameters(env, prefix)
