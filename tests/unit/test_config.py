"""Configuration errors name every bad variable and never echo secrets."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, Field, SecretStr

from shared.config import ConfigError, load_config


class Example(BaseModel):
    url: str
    port: int = Field(ge=1, le=65535)
    buckets: dict[str, str] = {}
    password: SecretStr


def test_loads_typed_values_and_json() -> None:
    cfg = load_config(
        Example,
        "EX",
        {"EX_URL": "http://x", "EX_PORT": "8080", "EX_BUCKETS": '{"a": "b"}', "EX_PASSWORD": "pw"},
    )
    assert cfg.port == 8080 and cfg.buckets == {"a": "b"}
    assert cfg.password.get_secret_value() == "pw"


def test_missing_and_bad_values_are_all_named() -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(Example, "EX", {"EX_PORT": "99999"})
    message = str(caught.value)
    assert "EX_URL: required" in message
    assert "EX_PASSWORD: required" in message
    assert "EX_PORT" in message


def test_bad_json_is_named() -> None:
    with pytest.raises(ConfigError, match="EX_BUCKETS: not valid JSON"):
        load_config(
            Example, "EX", {"EX_URL": "u", "EX_PORT": "1", "EX_BUCKETS": "{", "EX_PASSWORD": "p"}
        )


def test_secret_values_are_not_echoed() -> None:
    class Strict(BaseModel):
        password: SecretStr = Field(min_length=10)

    with pytest.raises(ConfigError) as caught:
        load_config(Strict, "EX", {"EX_PASSWORD": "hunter2"})
    assert "hunter2" not in str(caught.value)
    assert "EX_PASSWORD" in str(caught.value)


def test_service_configs_report_missing_variables() -> None:
    from functions.wkvs.config import WkvsConfig
    from functions.wps.config import WpsConfig

    with pytest.raises(ConfigError, match="WPS_SIGNING_KEY: required"):
        load_config(WpsConfig, "WPS", {})
    with pytest.raises(ConfigError, match="WKVS_CRYPT4GH_PUBLIC_KEYS"):
        load_config(
            WkvsConfig,
            "WKVS",
            {
                "WKVS_CRYPT4GH_PUBLIC_KEYS": '{"archive": "not-a-key"}',
                "WKVS_WPS_API_URL": "u",
                "WKVS_UCS_API_URL": "u",
                "WKVS_DCS_API_URL": "u",
            },
        )


# ---------------------------------------------------------------- secrets from SSM


class _Counting:
    """A real SSM client (moto, in process) that counts the GetParameter calls."""

    def __init__(self, ssm) -> None:
        self.ssm = ssm
        self.calls: list[str] = []

    def get_parameter(self, **kwargs):
        self.calls.append(kwargs["Name"])
        assert kwargs["WithDecryption"] is True
        return self.ssm.get_parameter(**kwargs)


@pytest.fixture
def ssm(monkeypatch: pytest.MonkeyPatch):
    import boto3
    from moto import mock_aws

    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_SSM"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        yield boto3.client("ssm", region_name="eu-central-1")


def test_a_parameter_variable_is_read_from_ssm_once_per_process(ssm) -> None:
    from shared.adapters.ssm import SsmParameters

    ssm.put_parameter(Name="/ex/password", Value="s3cret-value", Type="SecureString")
    source = _Counting(ssm)
    parameters = SsmParameters(source)
    environ = {"EX_URL": "u", "EX_PORT": "1", "EX_PASSWORD_PARAMETER": "/ex/password"}
    for _ in range(3):
        cfg = load_config(Example, "EX", environ, parameters)
        assert cfg.password.get_secret_value() == "s3cret-value"
    assert source.calls == ["/ex/password"]


def test_a_missing_parameter_is_a_start_up_error_naming_it(ssm) -> None:
    from shared.adapters.ssm import SsmParameters

    ssm.put_parameter(Name="/ex/other", Value="other-secret", Type="SecureString")
    environ = {"EX_URL": "u", "EX_PORT": "1", "EX_PASSWORD_PARAMETER": "/ex/password"}
    with pytest.raises(ConfigError) as caught:
        load_config(Example, "EX", environ, SsmParameters(ssm))
    message = str(caught.value)
    assert "EX_PASSWORD_PARAMETER: SSM parameter /ex/password does not exist" in message
    assert "other-secret" not in message


def test_an_unreachable_parameter_store_is_a_clear_error() -> None:
    import boto3
    from botocore.config import Config

    from shared.adapters.ssm import SsmParameters

    dead = boto3.client(
        "ssm",
        region_name="eu-central-1",
        endpoint_url="http://127.0.0.1:9",
        aws_access_key_id="x",
        aws_secret_access_key="x",
        config=Config(retries={"max_attempts": 1}, connect_timeout=1),
    )
    environ = {"EX_URL": "u", "EX_PORT": "1", "EX_PASSWORD_PARAMETER": "/ex/password"}
    with pytest.raises(ConfigError, match=r"/ex/password cannot be read \(EndpointConnectionError"):
        load_config(Example, "EX", environ, SsmParameters(dead))


def test_structured_values_come_from_parameters_too() -> None:
    environ = {
        "EX_URL": "u",
        "EX_PORT": "1",
        "EX_PASSWORD": "p",
        "EX_BUCKETS_PARAMETER": "/ex/buckets",
    }
    cfg = load_config(Example, "EX", environ, _Values({"/ex/buckets": '{"a": "b"}'}))
    assert cfg.buckets == {"a": "b"}


def test_a_value_and_a_parameter_for_one_field_are_refused() -> None:
    environ = {
        "EX_URL": "u",
        "EX_PORT": "1",
        "EX_PASSWORD": "plain",
        "EX_PASSWORD_PARAMETER": "/ex/password",
    }
    with pytest.raises(ConfigError, match="EX_PASSWORD: set both"):
        load_config(Example, "EX", environ, _Values({"/ex/password": "x"}))


def test_a_missing_secret_names_both_ways_to_set_it() -> None:
    with pytest.raises(
        ConfigError, match=r"EX_PASSWORD: required but not set \(nor EX_PASSWORD_PARAMETER\)"
    ):
        load_config(Example, "EX", {"EX_URL": "u", "EX_PORT": "1"}, _Values({}))


def test_no_parameter_store_is_touched_without_parameter_variables() -> None:
    class Refusing:
        def get(self, name: str) -> str:
            raise AssertionError("no parameter should be read")

    cfg = load_config(
        Example, "EX", {"EX_URL": "u", "EX_PORT": "1", "EX_PASSWORD": "p"}, Refusing()
    )
    assert cfg.url == "u"


class _Values:
    """A parameter source with fixed values (tests of load_config, not of SSM)."""

    def __init__(self, values: dict[str, str]) -> None:
        self.values = values

    def get(self, name: str) -> str:
        return self.values[name]
