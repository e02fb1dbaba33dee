"""No secret in the functions' environment; EKSS runs under its own Vault policy.

The embedded stack takes the path a deployment takes: its secrets are SSM SecureStrings
(moto) and the functions are given the parameters' names; EKSS's Vault token carries
infra/vault/ekss.hcl alone, while the root token stays with the bootstrap and the tests.
"""

from __future__ import annotations

import dataclasses
import uuid
from typing import Any

import hvac
import pytest
from hvac.exceptions import Forbidden

from infra import settings
from testbed.environment import StackSecrets, stack_environment
from testbed.events import aws
from tests.support import RunningStack

PUBLIC = ("wot_public_pem", "archive_public_key_b64")  # public keys, given as values


def _options() -> dict[str, Any]:
    secrets = StackSecrets(
        **{f.name: f"SECRET-{f.name}-{uuid.uuid4()}" for f in dataclasses.fields(StackSecrets)}
    )
    return {
        "api_url": "http://127.0.0.1:1",
        "aws_endpoint_url": "http://127.0.0.1:2",
        "vault_addr": "http://127.0.0.1:3",
        "region": "eu-central-1",
        "account": "123456789012",
        "prefix": "fs",
        "secrets": secrets,
        "ekss_vault_token": f"SECRET-ekss-vault-token-{uuid.uuid4()}",
    }


def test_no_secret_value_is_in_the_functions_environment() -> None:
    options = _options()
    secrets = options["secrets"]
    hidden = [
        getattr(secrets, f.name) for f in dataclasses.fields(secrets) if f.name not in PUBLIC
    ] + [options["ekss_vault_token"]]
    env, _ = stack_environment(**options)
    for value in hidden:
        assert not any(value in given for given in env.values()), value
    # and yet every function's sensitive setting is there, by name
    for function in settings.SETTINGS:
        for variable, parameter in settings.secret_parameters(function, "fs").items():
            assert env[variable + "_PARAMETER"] == parameter
            assert variable not in env


def test_the_parameters_hold_the_secrets_but_never_the_root_token() -> None:
    options = _options()
    env, parameters = stack_environment(**options)
    assert set(parameters) == set(settings.parameters("fs"))
    assert parameters["/fs/vault-token"] == options["ekss_vault_token"]
    assert parameters["/fs/wot-signing-key"] == options["secrets"].wot_private_pem
    assert options["secrets"].vault_token not in parameters.values()
    assert env == stack_environment(**options)[0]


# ---------------------------------------------------------------- on the running stack


def _parameter(endpoints: dict[str, Any], name: str) -> dict[str, Any]:
    ssm = aws(endpoints, "ssm")
    return ssm.get_parameter(Name=name, WithDecryption=True)["Parameter"]


def _ekss_vault(endpoints: dict[str, Any]) -> hvac.Client:
    """Vault as EKSS sees it: with the token the stack put into EKSS's parameter."""
    name = settings.secret_parameters("ekss", endpoints["resource_prefix"])["EKSS_VAULT_TOKEN"]
    token = _parameter(endpoints, name)["Value"]
    return hvac.Client(url=endpoints["vault_addr"], token=token)


def test_the_stack_secrets_are_secure_string_parameters(running_stack: RunningStack) -> None:
    endpoints = running_stack.endpoints
    for name in settings.parameters(endpoints["resource_prefix"]):
        found = _parameter(endpoints, name)
        assert found["Type"] == "SecureString" and found["Value"], name
    root = endpoints["vault_token"]
    ekss = _ekss_vault(endpoints)
    assert ekss.token != root
    # looked up with the root token: EKSS's token carries its policy and nothing else
    looked_up = hvac.Client(url=endpoints["vault_addr"], token=root).auth.token.lookup(ekss.token)
    assert looked_up["data"]["policies"] == ["fs-ekss"]


def test_ekss_token_works_on_its_own_paths(running_stack: RunningStack) -> None:
    vault = _ekss_vault(running_stack.endpoints)
    kv = vault.secrets.kv.v2
    key = kv.read_secret_version(
        path="fs/ekss/archive-keys/archive", mount_point="secret", raise_on_deleted_version=True
    )
    assert key["data"]["data"]["private_key"]
    path = f"fs/ekss/secrets/{uuid.uuid4()}"
    kv.create_or_update_secret(path=path, secret={"secret": "x"}, cas=0, mount_point="secret")
    read = kv.read_secret_version(path=path, mount_point="secret", raise_on_deleted_version=True)
    kv.create_or_update_secret(
        path=path,
        secret={"secret": "y"},
        cas=read["data"]["metadata"]["version"],
        mount_point="secret",
    )
    kv.delete_metadata_and_all_versions(path=path, mount_point="secret")


@pytest.mark.parametrize(
    "attempt",
    [
        "read sys/policies",
        "read sys/mounts",
        "create a token",
        "look itself up",
        "read another KV path",
        "write another KV path",
        "write the archive key",
        "read the secrets' metadata",
    ],
)
def test_ekss_token_is_refused_outside_its_paths(running_stack: RunningStack, attempt: str) -> None:
    endpoints = running_stack.endpoints
    root = hvac.Client(url=endpoints["vault_addr"], token=endpoints["vault_token"])
    other = f"fs/other/{uuid.uuid4()}"
    root.secrets.kv.v2.create_or_update_secret(path=other, secret={"v": "1"}, mount_point="secret")
    vault = _ekss_vault(endpoints)
    kv = vault.secrets.kv.v2
    attempts = {
        "read sys/policies": lambda: vault.sys.list_acl_policies(),
        "read sys/mounts": lambda: vault.sys.list_mounted_secrets_engines(),
        "create a token": lambda: vault.auth.token.create(policies=["root"]),
        "look itself up": lambda: vault.auth.token.lookup_self(),
        "read another KV path": lambda: kv.read_secret_version(
            path=other, mount_point="secret", raise_on_deleted_version=True
        ),
        "write another KV path": lambda: kv.create_or_update_secret(
            path=f"fs/other/{uuid.uuid4()}", secret={"v": "2"}, mount_point="secret"
        ),
        "write the archive key": lambda: kv.create_or_update_secret(
            path="fs/ekss/archive-keys/archive", secret={"private_key": "x"}, mount_point="secret"
        ),
        "read the secrets' metadata": lambda: kv.list_secrets(
            path="fs/ekss/secrets", mount_point="secret"
        ),
    }
    with pytest.raises(Forbidden):
        attempts[attempt]()
    # and what it was refused is as it was
    assert root.secrets.kv.v2.read_secret_version(
        path=other, mount_point="secret", raise_on_deleted_version=True
    )["data"]["data"] == {"v": "1"}
