"""What the file services share: config, errors, logging, tokens, ports and adapters.

Modules here that the connector may import (``shared.crypt``) depend on nothing
but crypt4gh and PyNaCl; everything touching AWS or Vault lives in ``shared.adapters``.
"""
