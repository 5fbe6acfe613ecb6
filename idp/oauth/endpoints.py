"""Revocation (RFC 7009) and introspection (RFC 7662), on Authlib's endpoint classes."""

from __future__ import annotations

from authlib.oauth2.rfc6749 import InvalidRequestError
from authlib.oauth2.rfc7009 import RevocationEndpoint as _RevocationEndpoint
from authlib.oauth2.rfc7662 import IntrospectionEndpoint as _IntrospectionEndpoint
from authlib.oidc.rpinitiated import EndSessionEndpoint as _EndSessionEndpoint
from flask import current_app, g

from ..models import RefreshToken
from ..services import signin, tokens, users
from .client_auth import ALL_AUTH_METHODS, CONFIDENTIAL_AUTH_METHODS
from .validators import ACCEPTED_ALGS, AccessToken, read_access_token, read_id_token_hint

# Set on flask.g by the view that took the user's confirmation of a logout without a hint.
LOGOUT_CONFIRMED = "idp.logout_confirmed"


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
            user = token.subject_user()
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


class EndSessionEndpoint(_EndSessionEndpoint):
    """RP-Initiated Logout 1.0 on Authlib's endpoint; the view supplies the browser session."""

    def get_server_jwks(self):
        return current_app.extensions["idp.keys"].verification_keyset()

    def get_algorithms(self) -> list[str]:
        return list(ACCEPTED_ALGS)

    def _validate_id_token_hint(self, id_token_hint: str) -> dict:
        """Only an ID token idp issued (expired allowed, §2) for a client that exists:
        `typ` and claims tell it from access tokens (at+jwt) and logout tokens."""
        claims = read_id_token_hint(id_token_hint)
        if "events" in claims or "scope" in claims or "client_id" in claims:
            raise InvalidRequestError("'id_token_hint' is not an ID token from this server.")
        if not claims.get("sub") or self.resolve_client_from_id_token_claims(claims) is None:
            raise InvalidRequestError("'id_token_hint' does not name a client of this server.")
        return claims

    def resolve_client_from_id_token_claims(self, id_token_claims: dict):
        # Our ID tokens name one audience, as a one-item list.
        aud = id_token_claims.get("aud")
        if isinstance(aud, list) and len(aud) == 1:
            aud = aud[0]
        return self.server.query_client(aud) if isinstance(aud, str) else None

    def is_post_logout_redirect_uri_legitimate(self, request, uri, client, logout_hint) -> bool:
        # Without an id_token_hint we redirect only after the user confirmed on our page
        # (the view that took the confirmation says so: LOGOUT_CONFIRMED).
        return bool(g.get(LOGOUT_CONFIRMED))

    def end_session(self, end_session_request) -> None:
        claims = end_session_request.id_token_claims or {}
        signin.end_for_rp_logout(g.get("browser_session"), claims.get("sub"), claims.get("sid"))
