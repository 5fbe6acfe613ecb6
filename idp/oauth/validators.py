"""Bearer access-token validation for idp's own protected endpoints (userinfo)."""

from __future__ import annotations

from authlib.oauth2.rfc6750 import InvalidTokenError
from authlib.oauth2.rfc9068 import JWTBearerTokenValidator
from authlib.oauth2.rfc9068.claims import JWTAccessTokenClaims
from flask import current_app

from ..services import clients, users

ACCEPTED_ALGS = ("RS256", "ES256")


class AccessToken(JWTAccessTokenClaims):
    """Validated access-token claims, with the lookups Authlib's endpoints expect."""

    @property
    def scope(self) -> str:
        return self.get("scope") or ""

    def get_client(self):
        return clients.find_client(self.get("client_id"))

    def get_user(self):
        user = users.get_user_by_subject(self.get("sub"))
        if user is None or user.disabled:
            raise InvalidTokenError(description="The user of this token cannot be served.")
        return user


class AccessTokenValidator(JWTBearerTokenValidator):
    """Accepts idp access tokens for any client; only RS256/ES256 from our JWKS."""

    def __init__(self, issuer: str) -> None:
        super().__init__(issuer=issuer, resource_server=None)

    def get_jwks(self):
        keyset = current_app.extensions["idp.keys"].verification_keyset()

        def pinned(token):
            # RFC 8725 §3.1: never let the token choose an algorithm we do not sign with.
            if token.headers().get("alg") not in ACCEPTED_ALGS:
                raise InvalidTokenError()
            return keyset

        return pinned

    def authenticate_token(self, token_string):
        if not token_string or len(token_string) > 8192:
            raise InvalidTokenError()
        claims = super().authenticate_token(token_string)
        return AccessToken(claims, claims.header, claims.options)
