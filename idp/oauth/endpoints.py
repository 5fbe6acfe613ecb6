"""Revocation (RFC 7009) and introspection (RFC 7662), on Authlib's endpoint classes."""

from __future__ import annotations

from authlib.oauth2.rfc7009 import RevocationEndpoint as _RevocationEndpoint
from authlib.oauth2.rfc7662 import IntrospectionEndpoint as _IntrospectionEndpoint
from flask import current_app

from ..models import RefreshToken
from ..services import tokens, users
from .client_auth import ALL_AUTH_METHODS, CONFIDENTIAL_AUTH_METHODS
from .validators import AccessToken, read_access_token


def find_token(token_string: str, token_type_hint: str | None):
    """An AccessToken (signature checked) or a RefreshToken row, trying the hinted kind first."""
    if not isinstance(token_string, str) or not token_string or len(token_string) > 8192:
        return None
    lookups = [read_access_token, tokens.find_refresh_token]
    if token_type_hint == "refresh_token":
        lookups.reverse()
    for lookup in lookups:
        token = lookup(token_string)
        if token is not None:
            return token
    return None


class RevocationEndpoint(_RevocationEndpoint):
    CLIENT_AUTH_METHODS = ALL_AUTH_METHODS

    def query_token(self, token_string, token_type_hint):
        return find_token(token_string, token_type_hint)

    def revoke_token(self, token, request):
        if isinstance(token, RefreshToken):
            tokens.revoke_refresh_token(token, request.client)
        else:
            tokens.revoke_access_token(token, request.client)


class IntrospectionEndpoint(_IntrospectionEndpoint):
    CLIENT_AUTH_METHODS = CONFIDENTIAL_AUTH_METHODS

    def query_token(self, token_string, token_type_hint):
        return find_token(token_string, token_type_hint)

    def check_permission(self, token, client, request) -> bool:
        # A client introspects its own tokens, and access tokens addressed to it.
        if token.check_client(client):
            return True
        return isinstance(token, AccessToken) and token.is_audience(client.client_id)

    def introspect_token(self, token) -> dict:
        issuer = current_app.config["IDP"].issuer
        if isinstance(token, AccessToken):
            user = users.get_user_by_subject(token["sub"])
            if user is not None and user.disabled:
                return {"active": False}
            payload = {
                "token_type": "Bearer",
                "scope": token.scope,
                "client_id": token["client_id"],
                "sub": token["sub"],
                "aud": token["aud"],
                "iss": token["iss"],
                "exp": token["exp"],
                "iat": token["iat"],
                "jti": token["jti"],
            }
            if "roles" in token:
                payload["roles"] = token["roles"]
            return payload
        user = users.get_user(token.user_id)
        if user is None or user.disabled:
            return {"active": False}
        return {
            "token_type": "refresh_token",
            "scope": token.scope,
            "client_id": token.client_id,
            "sub": str(token.user_id),
            "iss": issuer,
            "exp": int(min(token.expires_at, token.family_expires_at).timestamp()),
            "iat": int(token.issued_at.timestamp()),
            "roles": list(user.roles),
        }
