"""Secrets from SSM Parameter Store: SecureString parameters read once per process.

A deployed function is given the *name* of a parameter (``<PREFIX>_<FIELD>_PARAMETER``),
never the value, so that no secret sits in the Lambda's environment or in Terraform
state (shared/config.py resolves the names at start-up). Errors name the parameter and
what went wrong, never a value.
"""

from __future__ import annotations

import threading
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from shared.config import ParameterUnavailable


class SsmParameters:
    """``GetParameter`` with decryption, one call per name, cached for the process."""

    def __init__(self, ssm: Any = None) -> None:
        self._ssm = ssm
        self._values: dict[str, str] = {}
        self._lock = threading.Lock()

    def _client(self) -> Any:
        if self._ssm is None:
            from shared.adapters.aws import client

            self._ssm = client("ssm")
        return self._ssm

    def get(self, name: str) -> str:
        """The decrypted value of parameter ``name``."""
        with self._lock:
            if name in self._values:
                return self._values[name]
            try:
                response = self._client().get_parameter(Name=name, WithDecryption=True)
            except ClientError as error:
                code = error.response.get("Error", {}).get("Code", "error")
                if code == "ParameterNotFound":
                    raise ParameterUnavailable(f"SSM parameter {name} does not exist") from None
                problem = f"SSM parameter {name} cannot be read ({code})"
                raise ParameterUnavailable(problem) from None
            except BotoCoreError as error:
                raise ParameterUnavailable(
                    f"SSM parameter {name} cannot be read ({type(error).__name__})"
                ) from None
            self._values[name] = response["Parameter"]["Value"]
            return self._values[name]


_DEFAULT: SsmParameters | None = None


def default_parameters() -> SsmParameters:
    """The process's one parameter cache (every service of the process shares it)."""
    global _DEFAULT
    if _DEFAULT is None:
        _DEFAULT = SsmParameters()
    return _DEFAULT
