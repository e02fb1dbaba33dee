# The Vault (OpenBao) policy EKSS's token carries, and nothing more: its two KV v2 paths
# on the mount "secret" (EkssConfig: vault_mount, secrets_path, archive_keys_path;
# tests/infra/test_vault_policy.py keeps the two in step). No sys/, no auth/, no other
# KV path; the default policy is not attached (the token cannot even look itself up).
# `bao policy write fs-ekss infra/vault/ekss.hcl`, then
# `bao token create -policy=fs-ekss -no-default-policy` (testbed/vault.py does both).

# one secret per file: created with check-and-set, read, replaced at its version
# (a deletion's tombstone), removed with every version
path "secret/data/fs/ekss/secrets/*" {
  capabilities = ["create", "read", "update"]
}

path "secret/metadata/fs/ekss/secrets/*" {
  capabilities = ["delete"]
}

# the archive's Crypt4GH private key, one per storage alias: read only
path "secret/data/fs/ekss/archive-keys/*" {
  capabilities = ["read"]
}
