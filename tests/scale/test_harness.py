"""The knobs of a scaled-down stack (testbed/stack.py, testbed/environment.py): settings
given on the command line replace the stack's own, and a scaled part size is refused where
the S3 backend cannot take it. Fast: no stack starts."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from shared.multipart import SCALED_MIN_PART_SIZE_ENV
from testbed.environment import StackSecrets, stack_environment
from testbed.stack import Stack, StackError, StackOptions, _parser, _setting
from tests.scale.conftest import SCALED_SETTINGS


def _environment(**overrides: str) -> dict[str, str]:
    secrets = StackSecrets(*(["x"] * 7))
    env, _ = stack_environment(
        api_url="http://api",
        aws_endpoint_url="http://aws",
        vault_addr="http://vault",
        region="eu-central-1",
        account="123456789012",
        prefix="fs",
        secrets=secrets,
        ekss_vault_token="t",
        overrides=overrides,
    )
    return env


def test_settings_replace_the_stacks_own_and_add_new_ones() -> None:
    plain = _environment()
    scaled = _environment(**SCALED_SETTINGS)
    assert plain["IRS_MAX_PARTS_PER_INVOCATION"] != SCALED_SETTINGS["IRS_MAX_PARTS_PER_INVOCATION"]
    for name, value in SCALED_SETTINGS.items():
        assert scaled[name] == value
    assert {k: v for k, v in scaled.items() if k not in SCALED_SETTINGS} == {
        k: v for k, v in plain.items() if k not in SCALED_SETTINGS
    }


def test_the_command_line_takes_settings_as_name_value() -> None:
    args = _parser().parse_args(
        ["up", "--setting", "IRS_MAX_PARTS_PER_INVOCATION=7", "--setting=DCS_X=a=b"]
    )
    assert dict(args.setting) == {"IRS_MAX_PARTS_PER_INVOCATION": "7", "DCS_X": "a=b"}
    with pytest.raises(SystemExit):
        _parser().parse_args(["up", "--setting", "no-value"])
    for bad in ("lower=1", "=1", "NAME"):
        with pytest.raises(argparse.ArgumentTypeError):
            _setting(bad)


@pytest.mark.parametrize("backend", ["seaweedfs", "localstack-host"])
def test_a_scaled_part_size_is_refused_on_a_backend_that_cannot_take_it(
    backend: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(SCALED_MIN_PART_SIZE_ENV, "65564")
    stack = Stack(StackOptions(state_dir=tmp_path, backend=backend))
    with pytest.raises(StackError, match="embedded backend"):
        stack.start()
    assert not (tmp_path / "endpoints.json").exists()
