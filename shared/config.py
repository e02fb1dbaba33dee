"""Configuration from environment variables, one prefix per service.

A service declares its settings as a pydantic model; ``load_config`` reads
``<PREFIX>_<FIELD>`` for every field, validates all of them at once and
raises a ``ConfigError`` naming every missing or bad variable. Values of
secret fields are never echoed in the message.

A field may instead be given as ``<PREFIX>_<FIELD>_PARAMETER``: the name of an SSM
SecureString parameter, read with decryption at start-up (shared/adapters/ssm.py). That
is how every sensitive setting reaches a deployed function (infra/settings.py), so that
no secret is a plain environment value or sits in Terraform state.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any, Protocol, TypeVar

from pydantic import BaseModel, SecretStr, ValidationError

ModelT = TypeVar("ModelT", bound=BaseModel)
PARAMETER_SUFFIX = "_PARAMETER"


class ParameterUnavailable(Exception):
    """A named parameter could not be read; the message names it, never a value."""


class ParameterSource(Protocol):
    """Where ``*_PARAMETER`` names are resolved (SSM Parameter Store when deployed)."""

    def get(self, name: str) -> str: ...


class ConfigError(Exception):
    """Missing or invalid configuration; the message lists each problem."""


def env_name(prefix: str, field: str) -> str:
    return f"{prefix}_{field}".upper()


def _is_structured(annotation: Any) -> bool:
    origin = getattr(annotation, "__origin__", None)
    return origin in (dict, list) or annotation in (dict, list)


def parameter_variable(prefix: str, field: str) -> str:
    """The variable that names the SSM parameter holding the field's value."""
    return env_name(prefix, field) + PARAMETER_SUFFIX


def _default_parameters() -> ParameterSource:
    from shared.adapters.ssm import default_parameters

    return default_parameters()


def load_config(
    model: type[ModelT],
    prefix: str,
    environ: Mapping[str, str] | None = None,
    parameters: ParameterSource | None = None,
) -> ModelT:
    """Build ``model`` from ``PREFIX_FIELD`` variables; dict and list fields take JSON.

    ``PREFIX_FIELD_PARAMETER`` names a parameter that holds the value instead; it is read
    from ``parameters`` (by default SSM, once per process).
    """
    environ = os.environ if environ is None else environ
    raw: dict[str, Any] = {}
    problems: list[str] = []
    for name, field in model.model_fields.items():
        var = env_name(prefix, name)
        named = parameter_variable(prefix, name)
        if named in environ:
            if var in environ:
                problems.append(f"{var}: set both as a value and as {named}; set one")
                continue
            if parameters is None:
                parameters = _default_parameters()
            try:
                value = parameters.get(environ[named])
            except ParameterUnavailable as error:
                problems.append(f"{named}: {error}")
                continue
        elif var in environ:
            value = environ[var]
        else:
            continue
        if _is_structured(field.annotation):
            try:
                raw[name] = json.loads(value)
            except json.JSONDecodeError:
                problems.append(f"{var}: not valid JSON")
                continue
        else:
            raw[name] = value
    if not problems:
        try:
            return model.model_validate(raw)
        except ValidationError as error:
            for issue in error.errors():
                name = str(issue["loc"][0]) if issue["loc"] else "?"
                var = env_name(prefix, name)
                if issue["type"] == "missing":
                    problems.append(
                        f"{var}: required but not set (nor {parameter_variable(prefix, name)})"
                    )
                else:
                    secret = model.model_fields.get(name) is not None and (
                        model.model_fields[name].annotation is SecretStr
                    )
                    shown = "" if secret else f" (got {str(issue.get('input'))[:60]!r})"
                    problems.append(f"{var}: {issue['msg']}{shown}")
    raise ConfigError(f"invalid configuration for {model.__name__}: " + "; ".join(problems))
