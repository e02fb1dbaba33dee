"""On AWS, EKSS is not reachable from the internet: every route of its API takes AWS_IAM
authorization, only IRS's and DCS's roles may invoke exactly that API, and they sign.

Read from the checked-in Terraform (an API Gateway REST API imported from Chalice's
swagger: AWS_IAM is the ``awsSigv4`` security scheme on a method)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from infra import settings
from infra.chalice_project import StageValues, stage_config
from shared.resources import DECLARATION
from tests.infra.iac import ACCOUNT, REGION, allows, env_of, execution_arn, main_tf, module, policy

FUNCTIONS = [f.name for f in DECLARATION.functions]
HTTP_FUNCTIONS = [f.name for f in DECLARATION.functions if f.http]
EKSS_CALLERS = {"irs", "dcs"}
EKSS = execution_arn("ekss")
EKSS_ROUTES = [f"{EKSS}/api/POST/secrets", f"{EKSS}/api/GET/secrets/s1/envelopes/k1"]
AWS_IAM = {"type": "apiKey", "name": "Authorization", "in": "header"}


def swagger(function: str) -> dict[str, Any]:
    return json.loads(module(function)["locals"]["chalice_api_swagger"])


def methods(function: str) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (path, method, operation)
        for path, operations in swagger(function)["paths"].items()
        for method, operation in operations.items()
        if isinstance(operation, dict)
    ]


def iam_scheme(function: str) -> set[str]:
    """The security schemes of the API that are API Gateway's AWS_IAM (SigV4)."""
    return {
        name
        for name, scheme in swagger(function).get("securityDefinitions", {}).items()
        if scheme.get("x-amazon-apigateway-authtype") == "awsSigv4"
        and {k: scheme.get(k) for k in AWS_IAM} == AWS_IAM
    }


def test_the_iam_only_apis_are_ekss_and_its_callers_irs_and_dcs() -> None:
    assert {"ekss"} == settings.IAM_ONLY_APIS
    assert settings.iam_callers("ekss") == EKSS_CALLERS


def test_every_ekss_route_takes_aws_iam_authorization() -> None:
    schemes = iam_scheme("ekss")
    assert schemes, "EKSS's API declares no AWS_IAM (awsSigv4) security scheme"
    found = methods("ekss")
    assert {(p, m) for p, m, _ in found} >= {
        ("/secrets", "post"),
        ("/secrets/{secret_id}/envelopes/{client_pk}", "get"),
    }
    for path, method, operation in found:  # /health included: nothing of EKSS is public
        security = operation.get("security")
        assert security and all(set(s) <= schemes for s in security), (path, method)


@pytest.mark.parametrize("function", sorted(set(HTTP_FUNCTIONS) - settings.IAM_ONLY_APIS))
def test_no_other_api_changes(function: str) -> None:
    """The public APIs keep their own token checks; none takes AWS_IAM."""
    assert not iam_scheme(function)
    assert all("security" not in operation for _, _, operation in methods(function))
    assert "ApiExecutionArn" not in module(function)["output"]


@pytest.mark.parametrize("function", FUNCTIONS)
def test_only_irs_and_dcs_may_invoke_ekss(function: str) -> None:
    caller = function in EKSS_CALLERS
    for route in EKSS_ROUTES:
        assert allows(policy(function), "execute-api:Invoke", route) is caller, (function, route)


@pytest.mark.parametrize("function", sorted(EKSS_CALLERS))
def test_callers_may_invoke_exactly_ekss(function: str) -> None:
    other_api = execution_arn("wps")
    for route in ("api/POST/secrets", "api/GET/health"):
        assert not allows(policy(function), "execute-api:Invoke", f"{other_api}/{route}")
    # another stage of EKSS's API, or another account's API of the same id: no
    assert not allows(policy(function), "execute-api:Invoke", f"{EKSS}/test/POST/secrets")
    elsewhere = EKSS.replace(f":{ACCOUNT}:", ":999999999999:")
    assert not allows(policy(function), "execute-api:Invoke", f"{elsewhere}/api/POST/secrets")
    assert not allows(policy(function), "execute-api:ManageConnections", EKSS_ROUTES[0])
    invokes = [
        s for s in policy(function)["Statement"] if any("execute-api" in a for a in s["Action"])
    ]
    assert invokes == [
        {
            "Sid": "InvokeEkssApi",
            "Effect": "Allow",
            "Action": ["execute-api:Invoke"],
            "Resource": [f"{EKSS}/api/*"],
        }
    ]


def test_ekss_execution_arn_is_passed_to_its_callers_only() -> None:
    output = module("ekss")["output"]["ApiExecutionArn"]["value"]
    assert output == "${aws_api_gateway_rest_api.rest_api.execution_arn}"
    assert "rest_api" in module("ekss")["resource"]["aws_api_gateway_rest_api"]
    for function, block in main_tf()["module"].items():
        given = block.get("ekss_api_execution_arn")
        if function in EKSS_CALLERS:
            assert given == "${module.ekss.ApiExecutionArn}", function
            assert "ekss_api_execution_arn" in module(function)["variable"]
        else:
            assert given is None, function


@pytest.mark.parametrize("function", sorted(EKSS_CALLERS))
def test_callers_sign_their_ekss_calls_on_aws_only(function: str) -> None:
    name = f"{function.upper()}_EKSS_SIGN"
    assert env_of(function)[name] == "true"
    values = {n: f"value-of-{n}" for n in settings.inputs()}
    urls = {f: f"http://127.0.0.1:4566/restapis/{f}/api/_user_request_/" for f in FUNCTIONS}
    concrete = StageValues(REGION, "000000000000", values, urls)
    localstack, _ = stage_config(function, "localstack", "fs", concrete)
    assert localstack["environment_variables"][name] == "false"  # LocalStack checks no SigV4


def test_settings_refuse_a_caller_that_does_not_sign(monkeypatch: pytest.MonkeyPatch) -> None:
    unsigned = dict(settings.SETTINGS)
    unsigned["dcs"] = {k: v for k, v in unsigned["dcs"].items() if k != "DCS_EKSS_SIGN"}
    monkeypatch.setattr(settings, "SETTINGS", unsigned)
    with pytest.raises(ValueError, match="sign their calls"):
        settings.check()
