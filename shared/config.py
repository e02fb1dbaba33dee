"""Configuration from environment variables, one prefix per service.

A service declares its settings as a pydantic model; ``load_config`` reads
``<PREFIX>_<FIELD>`` for every field, validates all of them at once and
raises a ``ConfigError`` naming every missing or bad variable. Values of
secret fields are never echoed in the message.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, SecretStr, ValidationError

ModelT = TypeVar("ModelT", bound=BaseModel)


class ConfigError(Exception):
    """Missing or invalid configuration; the message lists each problem."""


def env_name(prefix: str, field: str) -> str:
    return f"{prefix}_{field}".upper()


def _is_structured(annotation: Any) -> bool:
    origin = getattr(annotation, "__origin__", None)
    return origin in (dict, list) or annotation in (dict, list)


def load_config(
    model: type[ModelT], prefix: str, environ: Mapping[str, str] | None = None
) -> ModelT:
    """Build ``model`` from ``PREFIX_FIELD`` variables; dict and list fields take JSON."""
    environ = os.environ if environ is None else environ
    raw: dict[str, Any] = {}
    problems: list[str] = []
    for name, field in model.model_fields.items():
        var = env_name(prefix, name)
        if var not in environ:
            continue
        value = environ[var]
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
                    problems.append(f"{var}: required but not set")
                else:
                    secret = model.model_fields.get(name) is not None and (
                        model.model_fields[name].annotation is SecretStr
                    )
                    shown = "" if secret else f" (got {str(issue.get('input'))[:60]!r})"
                    problems.append(f"{var}: {issue['msg']}{shown}")
    raise ConfigError(f"invalid configuration for {model.__name__}: " + "; ".join(problems))
