"""The secret store port on Vault/OpenBao KV v2 (hvac), written with check-and-set."""

from __future__ import annotations

from typing import Any

import hvac
import requests
from hvac.exceptions import InvalidPath, InvalidRequest, VaultError

from shared.ports import SecretExists, SecretStoreUnavailable


class VaultSecretStore:
    def __init__(
        self, url: str, token: str, mount: str = "secret", timeout_s: float = 10.0
    ) -> None:
        self._client = hvac.Client(url=url, token=token, timeout=timeout_s)
        self._mount = mount

    def _kv(self) -> Any:
        return self._client.secrets.kv.v2

    def create(self, path: str, data: dict[str, str]) -> None:
        self._write(path, data, cas=0)

    def replace(self, path: str, data: dict[str, str], version: int) -> None:
        self._write(path, data, cas=version)

    def _write(self, path: str, data: dict[str, str], cas: int) -> None:
        try:
            self._kv().create_or_update_secret(
                path=path, secret=data, cas=cas, mount_point=self._mount
            )
        except InvalidRequest as error:
            if "check-and-set" in str(error):
                raise SecretExists(path) from error
            raise SecretStoreUnavailable("the secret store refused the write") from error
        except (VaultError, requests.RequestException) as error:
            raise SecretStoreUnavailable("the secret store is not reachable") from error

    def read(self, path: str) -> dict[str, str] | None:
        found = self.read_versioned(path)
        return None if found is None else found[0]

    def read_versioned(self, path: str) -> tuple[dict[str, str], int] | None:
        try:
            response = self._kv().read_secret_version(
                path=path, mount_point=self._mount, raise_on_deleted_version=True
            )
        except InvalidPath:
            return None
        except (VaultError, requests.RequestException) as error:
            raise SecretStoreUnavailable("the secret store is not reachable") from error
        return response["data"]["data"], int(response["data"]["metadata"]["version"])

    def delete(self, path: str) -> None:
        try:
            self._kv().delete_metadata_and_all_versions(path=path, mount_point=self._mount)
        except InvalidPath:
            return
        except (VaultError, requests.RequestException) as error:
            raise SecretStoreUnavailable("the secret store is not reachable") from error
