"""Access tokens as RFC 9068 JWTs, signed with the active key."""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Iterator
from contextvars import ContextVar

from authlib.oauth2.rfc9068 import JWTBearerTokenGenerator
from flask import current_app

# Claims a grant fixes for the token it is about to issue (token exchange: aud and act).
_claims_override: ContextVar[dict | None] = ContextVar("claims_override", default=None)


@contextlib.contextmanager
def token_claims(**claims) -> Iterator[None]:
    """Issue the tokens generated inside the block with these claims (e.g. `aud`, `act`)."""
    reset = _claims_override.set({k: v for k, v in claims.items() if v})
    try:
        yield
    finally:
        _claims_override.reset(reset)


class AccessTokenGenerator(JWTBearerTokenGenerator):
    """Authlib's RFC 9068 generator with our keys, lifetimes and claims."""

    def __init__(self, issuer: str, access_token_ttl: int, refresh_token_generator=None) -> None:
        super().__init__(
            issuer=issuer,
            alg="RS256",
            refresh_token_generator=refresh_token_generator,
            expires_generator=self._expires_in,
        )
        self._ttl = access_token_ttl

    def _expires_in(self, client, grant_type) -> int:
        # Authlib's default is 10 days; ours comes from config.
        return self._ttl

    def get_jwks(self):
        return current_app.extensions["idp.keys"].signing_keyset(self.alg)

    def get_jti(self, client, grant_type, user, scope) -> str:
        # A random jti keeps two tokens minted in the same second distinct.
        return secrets.token_urlsafe(16)

    def get_extra_claims(self, client, grant_type, user, scope) -> dict:
        # Roles travel in the token so services authorize without calling idp.
        claims = {"roles": list(user.roles)} if user is not None else {}
        claims.update(_claims_override.get() or {})
        return claims
