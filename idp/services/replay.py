"""Single-use identifiers: a `jti` accepted once, remembered for its whole lifetime.

Client assertions (RFC 7523 §3, private_key_jwt) and token-exchange subject assertions
(RFC 8693) each carry a `jti`; the short-lived store remembers it until the assertion
expires, so a replay within its lifetime is refused by every worker (Redis), or by this
process (the in-process store of the embedded default).
"""

from __future__ import annotations

from flask import current_app

CLIENT_ASSERTION_PREFIX = "jti:"
SUBJECT_ASSERTION_PREFIX = "exchange-jti:"


def first_use(prefix: str, client_id: str, jti: str, ttl_seconds: int) -> bool:
    """Remember `jti` for this client for `ttl_seconds`; False when it was seen before.

    Raises StoreUnavailable when the store cannot answer (the caller fails closed)."""
    store = current_app.extensions["idp.store"]
    return store.add(f"{prefix}{client_id}:{jti}", "1", max(1, int(ttl_seconds)))
