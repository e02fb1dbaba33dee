"""The Docker LocalStack testbed, as far as it can be checked without a Docker engine."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

from infra import settings
from shared.resources import DECLARATION
from testbed.localstack_deploy import COMPOSE, ORDER, DeployError, api_url
from tests.support import REPO


def test_functions_are_deployed_after_the_apis_they_call() -> None:
    assert sorted(ORDER) == sorted(f.name for f in DECLARATION.functions)
    for position, function in enumerate(ORDER):
        for setting in settings.SETTINGS[function].values():
            if isinstance(setting, settings.ApiUrl):
                assert ORDER.index(setting.function) < position, (function, setting.function)


def test_compose_listens_on_loopback_only_and_lets_lambdas_reach_vault() -> None:
    compose = yaml.safe_load(COMPOSE.read_text())
    services = compose["services"]
    assert set(services) == {"localstack", "vault"}
    for service in services.values():
        for port in service.get("ports", []):
            assert port.startswith("127.0.0.1:"), port
    network = compose["networks"]["default"]["name"]
    assert services["localstack"]["environment"]["LAMBDA_DOCKER_NETWORK"] == network
    assert services["localstack"]["environment"]["S3_SKIP_SIGNATURE_VALIDATION"] == "0"
    needed = {"s3", "sqs", "sns", "dynamodb", "lambda", "apigateway", "events"}
    assert needed <= set(services["localstack"]["environment"]["SERVICES"].split(","))


def test_api_url_comes_from_chalice_deployment_record(tmp_path: Path) -> None:
    record = tmp_path / ".chalice" / "deployed"
    record.mkdir(parents=True)
    (record / "localstack.json").write_text(
        json.dumps(
            {
                "resources": [
                    {"name": "api_handler", "resource_type": "lambda_function"},
                    {"name": "rest_api", "resource_type": "rest_api", "rest_api_id": "abc123"},
                ]
            }
        )
    )
    assert api_url(tmp_path).endswith("/restapis/abc123/api/_user_request_")
    (record / "localstack.json").write_text(json.dumps({"resources": []}))
    try:
        api_url(tmp_path)
    except DeployError as error:
        assert "no REST API" in str(error)
    else:
        raise AssertionError("a record without a REST API was accepted")


def test_without_docker_up_is_a_clear_error(tmp_path: Path) -> None:
    bin_dir = Path(sys.executable).parent
    result = subprocess.run(
        [sys.executable, "-m", "testbed.localstack_deploy", "up", "--state-dir", str(tmp_path)],
        cwd=REPO,
        env={**os.environ, "PATH": str(bin_dir)},  # our tools, and no docker
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "docker is not installed" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "endpoints.json").exists()
