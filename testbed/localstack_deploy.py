"""The LocalStack testbed on a machine with Docker: up, deploy, endpoints file, down.

    python -m testbed.localstack_deploy up     # `make localstack-up`
    python -m testbed.localstack_deploy down   # `make localstack-down`

``up`` starts localstack/docker-compose.yml (LocalStack and an OpenBao dev server, on
127.0.0.1), creates every resource of the declaration with testbed/bootstrap.py pointed
at LocalStack, stores the archive key in Vault, deploys each function as Lambdas with
``chalice deploy --stage localstack`` (projects from infra/chalice_project.py) and writes
``localstack/.state/endpoints.json`` for the journey (``make testbed ENDPOINTS=...``).

Untested here: the machine this was written on has no Docker engine.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from infra.chalice_project import REPO, StageValues, assemble
from shared.resources import DECLARATION, LOCALSTACK_ACCOUNT
from testbed.localstack_host import ACCESS_KEY, SECRET_KEY
from testbed.stack import ENDPOINTS_FILE, write_endpoints

COMPOSE = REPO / "localstack" / "docker-compose.yml"
STATE_DIR = REPO / "localstack" / ".state"
BUILD_DIR = REPO / "build" / "localstack"
HOST_URL = "http://127.0.0.1:4566"
# resolves to 127.0.0.1 on the host and to LocalStack inside its Lambda containers, so one
# URL (presigned URLs included) works from both sides
LAMBDA_URL = "http://localhost.localstack.cloud:4566"
VAULT_HOST_URL = "http://127.0.0.1:8200"
VAULT_LAMBDA_URL = "http://vault:8200"  # the compose service, on the fs-testbed network
STAGE = "localstack"
# EKSS first (IRS and DCS call it), WKVS last (it names the others); DCS is deployed
# before its own URL is known, then once more with it
ORDER = ("ekss", "wps", "ucs", "irs", "ifrs", "dcs", "wkvs")


class DeployError(Exception):
    """A step failed; the message says which and why."""


def _run(argv: list[str], *, env: dict[str, str] | None = None, cwd: Path = REPO) -> str:
    try:
        result = subprocess.run(
            argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=1800
        )
    except FileNotFoundError as error:
        raise DeployError(f"{argv[0]} is not installed ({error})") from error
    if result.returncode != 0:
        raise DeployError(f"`{' '.join(argv[:3])}` failed: {result.stderr.strip()[-1500:]}")
    return result.stdout


def _wait(url: str, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2):  # noqa: S310 - loopback
                return
        except OSError:
            time.sleep(1)
    raise DeployError(f"{url} did not answer within {timeout_s:.0f}s")


def aws_env(region: str) -> dict[str, str]:
    """Talk to LocalStack from the host, with its fixed test credentials."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        {
            "AWS_ENDPOINT_URL": HOST_URL,
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
            "AWS_DEFAULT_REGION": region,
            "AWS_REGION": region,
        }
    )
    return env


def api_url(project: Path) -> str:
    """The deployed REST API of a project, as LocalStack serves it."""
    deployed = json.loads((project / ".chalice" / "deployed" / f"{STAGE}.json").read_text())
    for resource in deployed["resources"]:
        if resource.get("resource_type") == "rest_api":
            return f"{LAMBDA_URL}/restapis/{resource['rest_api_id']}/api/_user_request_"
    raise DeployError(f"{project.name} has no REST API in its deployment record")


def deploy(function: str, concrete: StageValues, prefix: str, env: dict[str, str]) -> Path:
    project = assemble(function, BUILD_DIR, prefix=prefix, stages={STAGE: concrete})
    chalice = str(Path(sys.executable).parent / "chalice")
    print(f"  deploying {function}", flush=True)
    _run([chalice, "deploy", "--stage", STAGE, "--no-autogen-policy"], env=env, cwd=project)
    return project


def up(state_dir: Path, prefix: str, region: str) -> dict[str, Any]:
    from shared.crypt.keys import encode_key, generate_keypair
    from shared.tokens import generate_signing_key, hash_secret, random_token

    vault_token = random_token(32)
    env = aws_env(region) | {"FS_RESOURCE_PREFIX": prefix, "FS_VAULT_TOKEN": vault_token}
    print("LocalStack testbed: starting LocalStack and OpenBao (docker compose)", flush=True)
    _run(["docker", "compose", "-f", str(COMPOSE), "up", "-d", "--wait"], env=env)
    _wait(f"{HOST_URL}/_localstack/health")
    _wait(f"{VAULT_HOST_URL}/v1/sys/health")

    os.environ.update(env)  # bootstrap and the Vault client read it
    from infra import settings
    from shared.adapters.aws import client
    from shared.adapters.vault import VaultSecretStore
    from testbed.bootstrap import bootstrap
    from testbed.stack import put_parameters
    from testbed.vault import ekss_token

    print("  creating the resources of the declaration", flush=True)
    bootstrap(prefix)
    archive_private, archive_public = generate_keypair()
    VaultSecretStore(VAULT_HOST_URL, vault_token).create(
        "fs/ekss/archive-keys/archive",
        {"private_key": encode_key(archive_private), "public_key": encode_key(archive_public)},
    )
    wot_private, wot_public = generate_signing_key()
    operator_token = random_token(32)
    irs_ekss_token, dcs_ekss_token = random_token(32), random_token(32)
    values = {
        "crypt4gh_public_keys": json.dumps({"archive": encode_key(archive_public)}),
        "wot_signing_key": wot_private,
        "wot_public_key": wot_public,
        "operator_token_sha256": hash_secret(operator_token),
        "irs_ekss_token": irs_ekss_token,
        "irs_ekss_token_sha256": hash_secret(irs_ekss_token),
        "dcs_ekss_token": dcs_ekss_token,
        "dcs_ekss_token_sha256": hash_secret(dcs_ekss_token),
        "vault_url": VAULT_LAMBDA_URL,
        "vault_token": ekss_token(VAULT_HOST_URL, vault_token),  # EKSS's policy, not root
        "storage_alias": "archive",
        "dcs_public_url": "http://dcs.invalid",  # replaced once DCS's API exists
    }
    # the sensitive inputs reach the Lambdas as SSM parameter names (infra/settings.py)
    put_parameters(
        client("ssm"), {name: values[i.name] for name, i in settings.parameters(prefix).items()}
    )
    urls: dict[str, str] = {}

    def concrete() -> StageValues:
        return StageValues(
            region, LOCALSTACK_ACCOUNT, dict(values), dict(urls), {"AWS_ENDPOINT_URL": LAMBDA_URL}
        )

    http = {f.name for f in DECLARATION.functions if f.http}
    for function in ORDER:
        project = deploy(function, concrete(), prefix, env)
        if function in http:
            urls[function] = api_url(project)
        if function == "dcs":
            values["dcs_public_url"] = urls["dcs"]
            deploy(function, concrete(), prefix, env)

    endpoints = {
        "api_url": LAMBDA_URL,
        **{f"{name}_url": url for name, url in urls.items()},
        "aws_endpoint_url": LAMBDA_URL,
        "dynamodb_endpoint_url": LAMBDA_URL,
        # LocalStack's name for this machine: fs-connector takes plain http:// only to
        # loopback addresses unless told (testbed/journey.py passes this on)
        "connector_http_hosts": [urllib.parse.urlsplit(LAMBDA_URL).hostname],
        "aws_region": region,
        "aws_account": LOCALSTACK_ACCOUNT,  # the topics' ARNs (testbed/events.py)
        "aws_access_key_id": ACCESS_KEY,
        "aws_secret_access_key": SECRET_KEY,
        "vault_addr": VAULT_HOST_URL,
        "vault_token": vault_token,
        "operator_token": operator_token,
        "irs_ekss_token": irs_ekss_token,
        "dcs_ekss_token": dcs_ekss_token,
        "resource_prefix": prefix,
        "storage_alias": "archive",
        "archive_public_key": encode_key(archive_public),
        "wot_public_key": wot_public,
        "backend": "localstack-docker",
    }
    state_dir.mkdir(parents=True, exist_ok=True)
    path = state_dir / ENDPOINTS_FILE
    write_endpoints(path, endpoints)
    print(f"LocalStack testbed ready; endpoints in {path}", flush=True)
    return endpoints


def down(state_dir: Path) -> None:
    env = {**os.environ, "FS_VAULT_TOKEN": "stopping"}
    _run(["docker", "compose", "-f", str(COMPOSE), "down", "-v"], env=env)
    (state_dir / ENDPOINTS_FILE).unlink(missing_ok=True)
    print("LocalStack testbed stopped", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m testbed.localstack_deploy", description=__doc__.splitlines()[0]
    )
    parser.add_argument("command", choices=("up", "down"))
    parser.add_argument("--state-dir", type=Path, default=STATE_DIR)
    parser.add_argument("--prefix", default="fs")
    parser.add_argument("--region", default="eu-central-1")
    args = parser.parse_args(argv)
    try:
        if args.command == "up":
            up(args.state_dir, args.prefix, args.region)
        else:
            down(args.state_dir)
    except DeployError as error:
        print(f"localstack testbed: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
