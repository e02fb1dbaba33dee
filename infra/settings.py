"""Where each function's non-resource settings come from when it is deployed.

The resource part of a function's environment (``<SVC>_BUCKETS``, ``_TOPICS``,
``_TABLES``) comes from shared/resources.py. The rest is declared here once: a value the
operator supplies at deploy time (an ``Input``, a Terraform variable) or the URL of
another function's API (an ``ApiUrl``). The embedded stack sets the same variables with
values of its own (testbed/environment.py); tests check that every required field of
every service's config model is covered here.

Only the functions in ``DECLARATION.vault_readers`` may have a setting that reaches Vault.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from shared.resources import DECLARATION, function_environment


@dataclass(frozen=True)
class Input:
    """A value supplied at deploy time; sensitive ones are Terraform-sensitive variables."""

    name: str
    description: str
    sensitive: bool = False
    reaches_vault: bool = False
    default: str | None = None


@dataclass(frozen=True)
class ApiUrl:
    """The base URL (no trailing slash) of another function's HTTP API."""

    function: str


Setting = Input | ApiUrl

OPERATOR_HASH = Input("operator_token_sha256", "sha256 (hex) of the operator's bearer token")
WOT_PUBLIC = Input("wot_public_key", "PEM of the ES256 public key that verifies work order tokens")
STORAGE_ALIAS = Input("storage_alias", "the archive's storage alias", default="archive")
SERVICE_TOKEN = Input("service_token", "bearer token IRS and DCS present to EKSS", sensitive=True)

SETTINGS: dict[str, dict[str, Setting]] = {
    "wkvs": {
        "WKVS_CRYPT4GH_PUBLIC_KEYS": Input(
            "crypt4gh_public_keys", 'JSON: {"<storage alias>": "<b64 Crypt4GH public key>"}'
        ),
        "WKVS_WPS_API_URL": ApiUrl("wps"),
        "WKVS_UCS_API_URL": ApiUrl("ucs"),
        "WKVS_DCS_API_URL": ApiUrl("dcs"),
    },
    "wps": {
        "WPS_SIGNING_KEY": Input(
            "wot_signing_key",
            "PEM of the ES256 private key that signs work order tokens",
            sensitive=True,
        ),
        "WPS_OPERATOR_TOKEN_SHA256": OPERATOR_HASH,
    },
    "ucs": {
        "UCS_WOT_PUBLIC_KEY": WOT_PUBLIC,
        "UCS_OPERATOR_TOKEN_SHA256": OPERATOR_HASH,
        "UCS_STORAGE_ALIAS": STORAGE_ALIAS,
    },
    "irs": {
        "IRS_EKSS_URL": ApiUrl("ekss"),
        "IRS_EKSS_TOKEN": SERVICE_TOKEN,
    },
    "ekss": {
        "EKSS_VAULT_URL": Input("vault_url", "address of the Vault API", reaches_vault=True),
        "EKSS_VAULT_TOKEN": Input(
            "vault_token",
            "Vault token of EKSS (read/write on its paths only)",
            sensitive=True,
            reaches_vault=True,
        ),
        "EKSS_SERVICE_TOKEN_SHA256": Input(
            "service_token_sha256", "sha256 (hex) of the service token"
        ),
        "EKSS_STORAGE_ALIAS": STORAGE_ALIAS,
    },
    "ifrs": {},
    "dcs": {
        "DCS_WOT_PUBLIC_KEY": WOT_PUBLIC,
        "DCS_EKSS_URL": ApiUrl("ekss"),
        "DCS_EKSS_TOKEN": SERVICE_TOKEN,
        # DCS's own address cannot come from its own API Gateway (a cycle): a custom domain
        "DCS_API_URL": Input(
            "dcs_public_url", "public base URL of the DCS API; its host names DRS objects"
        ),
    },
}


def inputs() -> dict[str, Input]:
    """Every deploy-time input, once, by name."""
    found: dict[str, Input] = {}
    for settings in SETTINGS.values():
        for setting in settings.values():
            if isinstance(setting, Input):
                if found.get(setting.name, setting) != setting:
                    raise ValueError(f"input {setting.name} is declared twice, differently")
                found[setting.name] = setting
    return dict(sorted(found.items()))


def url_variable(function: str) -> str:
    return f"{function}_api_url"


def terraform_reference(setting: Setting) -> str:
    """How a chalice module refers to the setting: always a variable of that module."""
    if isinstance(setting, ApiUrl):
        return f"${{var.{url_variable(setting.function)}}}"
    return f"${{var.{setting.name}}}"


def environment(
    function: str,
    *,
    region: str,
    account: str,
    prefix: str,
    values: Mapping[str, str] | None = None,
    urls: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """A function's whole deployed environment.

    Without ``values`` and ``urls`` the settings are Terraform references (``${var.x}``);
    with them, concrete values (a LocalStack deployment, or ``chalice deploy``).
    """
    env = function_environment(function, region=region, account=account, pfx=prefix)
    for name, setting in SETTINGS.get(function, {}).items():
        if values is None and urls is None:
            env[name] = terraform_reference(setting)
        elif isinstance(setting, ApiUrl):
            env[name] = (urls or {})[setting.function].rstrip("/")
        else:
            value = (values or {}).get(setting.name, setting.default)
            if value is None:
                raise KeyError(f"no value for deploy input {setting.name!r} ({function})")
            env[name] = value
    return env


def vault_reachers() -> set[str]:
    """Functions whose environment reaches Vault; must equal DECLARATION.vault_readers."""
    return {
        function
        for function, settings in SETTINGS.items()
        for setting in settings.values()
        if isinstance(setting, Input) and setting.reaches_vault
    }


def check() -> None:
    """Fail loudly when the settings disagree with the declaration."""
    names = {f.name for f in DECLARATION.functions}
    if set(SETTINGS) != names:
        raise ValueError(f"settings cover {sorted(SETTINGS)}, functions are {sorted(names)}")
    if vault_reachers() != set(DECLARATION.vault_readers):
        raise ValueError(
            f"functions reaching Vault {sorted(vault_reachers())} are not the declared "
            f"vault_readers {sorted(DECLARATION.vault_readers)}"
        )
    for function, settings in SETTINGS.items():
        for name, setting in settings.items():
            if not name.startswith(function.upper() + "_"):
                raise ValueError(f"{name} is not a {function.upper()}_ variable")
            if isinstance(setting, ApiUrl) and setting.function not in names:
                raise ValueError(f"{name} names an unknown function {setting.function}")
            if isinstance(setting, ApiUrl) and not DECLARATION.function(setting.function).http:
                raise ValueError(f"{name}: {setting.function} has no HTTP API")
