"""Where each function's non-resource settings come from when it is deployed.

The resource part of a function's environment (``<SVC>_BUCKETS``, ``_TOPICS``,
``_TABLES``) comes from shared/resources.py. The rest is declared here once: a value the
operator supplies at deploy time (an ``Input``, a Terraform variable) or the URL of
another function's API (an ``ApiUrl``). The embedded stack sets the same variables with
values of its own (testbed/environment.py); tests check that every required field of
every service's config model is covered here.

Only the functions in ``DECLARATION.vault_readers`` may have a setting that reaches Vault.

A sensitive ``Input`` is never a value in a function's environment nor a Terraform
variable (Terraform state would hold it): it lives in an SSM SecureString parameter
(``parameter_name``, e.g. ``/fs/wot-signing-key``) that the operator puts with
``aws ssm put-parameter --type SecureString``, and the function is given only the
parameter's name, as ``<VARIABLE>_PARAMETER``; shared/config.py reads it at start-up and
infra/iam.py lets each function read exactly its own parameters.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from shared.config import PARAMETER_SUFFIX
from shared.resources import DECLARATION, function_environment


@dataclass(frozen=True)
class Input:
    """A value supplied at deploy time: a Terraform variable, or, when ``sensitive``, an SSM
    SecureString parameter of which the function is given the name only."""

    name: str
    description: str
    sensitive: bool = False
    reaches_vault: bool = False
    default: str | None = None


@dataclass(frozen=True)
class ApiUrl:
    """The base URL (no trailing slash) of another function's HTTP API."""

    function: str


@dataclass(frozen=True)
class SignedCalls:
    """Whether calls to another function's API are SigV4-signed: ``true`` on AWS, where that
    API takes AWS_IAM authorization only (``IAM_ONLY_APIS``); ``false`` on a stage with
    concrete values (LocalStack checks no signature) and in the embedded stack."""

    function: str


Setting = Input | ApiUrl | SignedCalls

# the APIs that are not reachable from the internet on AWS: API Gateway AWS_IAM on every
# route (the app is a ServiceApp(iam_only=True)); whoever has an ApiUrl of one is allowed
# execute-api:Invoke on exactly that API (infra/iam.py) and signs its calls (SignedCalls)
IAM_ONLY_APIS = frozenset({"ekss"})

OPERATOR_HASH = Input("operator_token_sha256", "sha256 (hex) of the operator's bearer token")
WOT_PUBLIC = Input("wot_public_key", "PEM of the ES256 public key that verifies work order tokens")
STORAGE_ALIAS = Input("storage_alias", "the archive's storage alias", default="archive")
# each caller of EKSS has its own credential; EKSS refuses one on the other's routes
# (X-Service-Token next to the SigV4 signature on AWS; Authorization: Bearer unsigned)
IRS_EKSS_TOKEN = Input("irs_ekss_token", "token IRS presents to EKSS", sensitive=True)
DCS_EKSS_TOKEN = Input("dcs_ekss_token", "token DCS presents to EKSS", sensitive=True)

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
        "IRS_EKSS_TOKEN": IRS_EKSS_TOKEN,
        "IRS_EKSS_SIGN": SignedCalls("ekss"),
    },
    "ekss": {
        "EKSS_VAULT_URL": Input("vault_url", "address of the Vault API", reaches_vault=True),
        "EKSS_VAULT_TOKEN": Input(
            "vault_token",
            "Vault token of EKSS (read/write on its paths only)",
            sensitive=True,
            reaches_vault=True,
        ),
        "EKSS_IRS_TOKEN_SHA256": Input(
            "irs_ekss_token_sha256", "sha256 (hex) of IRS's token for EKSS"
        ),
        "EKSS_DCS_TOKEN_SHA256": Input(
            "dcs_ekss_token_sha256", "sha256 (hex) of DCS's token for EKSS"
        ),
        "EKSS_WOT_PUBLIC_KEY": WOT_PUBLIC,
        "EKSS_STORAGE_ALIAS": STORAGE_ALIAS,
    },
    "ifrs": {},
    "dcs": {
        "DCS_WOT_PUBLIC_KEY": WOT_PUBLIC,
        "DCS_EKSS_URL": ApiUrl("ekss"),
        "DCS_EKSS_TOKEN": DCS_EKSS_TOKEN,
        "DCS_EKSS_SIGN": SignedCalls("ekss"),
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


def execution_arn_variable(function: str) -> str:
    """The module variable with the execution ARN of an IAM-only API (its callers')."""
    return f"{function}_api_execution_arn"


def iam_callers(api: str) -> set[str]:
    """The functions that call ``api`` (an ApiUrl of it): those its IAM-only API admits."""
    return {
        function
        for function, settings in SETTINGS.items()
        for setting in settings.values()
        if isinstance(setting, ApiUrl) and setting.function == api
    }


def iam_apis_called(function: str) -> list[str]:
    """The IAM-only APIs ``function`` calls."""
    return sorted(api for api in IAM_ONLY_APIS if function in iam_callers(api))


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
        if isinstance(setting, SignedCalls):
            env[name] = "true" if values is None and urls is None else "false"
        elif isinstance(setting, Input) and setting.sensitive:
            # the name of the parameter, never the value (the deployer puts the value)
            env[name + PARAMETER_SUFFIX] = parameter_name(setting, prefix)
        elif values is None and urls is None:
            env[name] = terraform_reference(setting)
        elif isinstance(setting, ApiUrl):
            env[name] = (urls or {})[setting.function].rstrip("/")
        else:
            value = (values or {}).get(setting.name, setting.default)
            if value is None:
                raise KeyError(f"no value for deploy input {setting.name!r} ({function})")
            env[name] = value
    return env


def parameter_name(setting: Input, prefix: str) -> str:
    """The SSM parameter that holds a sensitive input: ``/<prefix>/<input-name>``."""
    if not setting.sensitive:
        raise ValueError(f"{setting.name} is not sensitive: it is a plain variable")
    return f"/{prefix}/{setting.name.replace('_', '-')}"


def secret_parameters(function: str, prefix: str) -> dict[str, str]:
    """The function's sensitive settings: variable (without the suffix) -> parameter name."""
    return {
        name: parameter_name(setting, prefix)
        for name, setting in SETTINGS.get(function, {}).items()
        if isinstance(setting, Input) and setting.sensitive
    }


def parameters(prefix: str) -> dict[str, Input]:
    """Every SSM parameter the operator puts before deploying, with its input."""
    return {
        parameter_name(setting, prefix): setting
        for setting in inputs().values()
        if setting.sensitive
    }


def variables() -> dict[str, Input]:
    """The inputs that are Terraform variables: the non-sensitive ones."""
    return {name: setting for name, setting in inputs().items() if not setting.sensitive}


def to_parameters(env: Mapping[str, str], prefix: str) -> tuple[dict[str, str], dict[str, str]]:
    """Move the sensitive values out of a whole environment (the embedded stack's, where
    every function shares one): the environment with parameter names in their place, and
    the values to put, by parameter name."""
    out = dict(env)
    values: dict[str, str] = {}
    for function in SETTINGS:
        for name, parameter in secret_parameters(function, prefix).items():
            if name in out:
                value = out.pop(name)
                if values.setdefault(parameter, value) != value:
                    raise ValueError(f"{parameter} is given two different values")
                out[name + PARAMETER_SUFFIX] = parameter
    return out, values


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
    for api in IAM_ONLY_APIS:
        signing = {
            function
            for function, settings in SETTINGS.items()
            if SignedCalls(api) in settings.values()
        }
        if signing != iam_callers(api):
            raise ValueError(
                f"the callers of the IAM-only {api} API {sorted(iam_callers(api))} must be "
                f"the functions that sign their calls to it {sorted(signing)}"
            )
