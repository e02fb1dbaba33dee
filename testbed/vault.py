"""EKSS's own Vault token: the repo's policy written into Vault, a token made with it.

The stack's bootstrap (and the tests) hold Vault's root token; EKSS is given only a token
that carries infra/vault/ekss.hcl (its two KV paths) and not even the default policy.
"""

from __future__ import annotations

from pathlib import Path

import hvac

POLICY_FILE = Path(__file__).resolve().parents[1] / "infra" / "vault" / "ekss.hcl"
POLICY_NAME = "fs-ekss"
LIFETIME = "768h"  # the dev server's longest; a stack lives far shorter


def ekss_token(vault_url: str, root_token: str, *, ttl: str = LIFETIME) -> str:
    """Write EKSS's policy (idempotent) and return a fresh token that carries only it."""
    vault = hvac.Client(url=vault_url, token=root_token, timeout=10)
    vault.sys.create_or_update_policy(name=POLICY_NAME, policy=POLICY_FILE.read_text())
    created = vault.auth.token.create(
        policies=[POLICY_NAME],
        no_default_policy=True,
        ttl=ttl,
        display_name="ekss",
        meta={"service": "ekss"},
    )
    return str(created["auth"]["client_token"])
