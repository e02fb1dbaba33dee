"""Who may call a UCS route: a work order token (WOT) for that very operation, or the operator.

A WOT is checked for signature, expiry, issuer and audience (401 if it is missing,
forged or expired; 403 for another service), then its claims are matched against the
route: work type, box, and the file id or alias (403 ``wrongToken`` naming the claim).
"""

from __future__ import annotations

from typing import Any

from shared.tokens import AUDIENCE_UPLOAD, TokenVerifier, matches_hash, require


class Authorizer:
    def __init__(self, verifier: TokenVerifier, operator_token_sha256: str) -> None:
        self._verifier = verifier
        self._operator_hash = operator_token_sha256

    def work_order(
        self, token: str | None, work_type: str, box_id: str, **expected: str
    ) -> dict[str, Any]:
        """The claims of a valid upload WOT for ``work_type`` in ``box_id``."""
        claims = self._verifier.verify(token, AUDIENCE_UPLOAD)
        require(claims, work_type=work_type, box_id=box_id, **expected)
        return claims

    def is_operator(self, token: str | None) -> bool:
        return matches_hash(token, self._operator_hash)
