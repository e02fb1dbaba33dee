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
