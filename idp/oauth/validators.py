"""Access-token validation for idp's own endpoints (userinfo, revocation, introspection)."""

from __future__ import annotations

from authlib.oauth2.rfc6750 import InvalidTokenError
from authlib.oauth2.rfc9068 import JWTBearerTokenValidator
from authlib.oauth2.rfc9068.claims import JWTAccessTokenClaims
from flask import current_app

from .. import clock
from ..services import blocklist, client_cache, users

ACCEPTED_ALGS = ("RS256", "ES256")


class AccessToken(JWTAccessTokenClaims):
    """Signature-checked access-token claims, with the lookups Authlib's endpoints expect."""

    @property
    def scope(self) -> str:
        return self.get("scope") or ""

    def get_scope(self) -> str:
        return self.scope

    def get_client(self):
        return client_cache.cached_client(self.get("client_id"))

    def subject_user(self):
        """The user `sub` names, read once per request (is_revoked and get_user both ask);
        a read-only copy (users.read_user_by_subject)."""
        if "_subject_user" not in self.__dict__:
            self.__dict__["_subject_user"] = users.read_user_by_subject(self.get("sub"))
        return self.__dict__["_subject_user"]

    def get_user(self):
        user = self.subject_user()
        if user is None or user.disabled:
            raise InvalidTokenError(description="The user of this token cannot be served.")
        return user

    def check_client(self, client) -> bool:
        return self.get("client_id") == client.get_client_id()

    def is_audience(self, client_id: str) -> bool:
        aud = self.get("aud")
        return client_id == aud or (isinstance(aud, list) and client_id in aud)

    def validate(self, now=None, leeway=0):
        super().validate(now=clock.now() if now is None else now, leeway=leeway)

    def is_expired(self) -> bool:
        return int(self.get("exp", 0)) <= clock.now()

    def is_revoked(self) -> bool:
        """Blocklisted, or issued before the user's "not before" (password reset, sign-out
        everywhere). Raises StoreUnavailable when that cannot be known (fail closed)."""
        if blocklist.is_blocked(self["jti"]):
            return True
        user = self.subject_user()
        cutoff = user.tokens_valid_after if user is not None else None
        # iat has one-second resolution: compare whole seconds.
        return cutoff is not None and int(self.get("iat", 0)) < int(cutoff.timestamp())


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
        if claims.header.get("typ", "").lower() not in ("at+jwt", "application/at+jwt"):
            raise InvalidTokenError()
        return AccessToken(claims, claims.header, claims.options)

    def validate_token(self, token, scopes, request, **kwargs):
        super().validate_token(token, scopes, request, **kwargs)
        if token.is_revoked():
            raise InvalidTokenError(description="The access token was revoked.")


def read_access_token(token_string: str) -> AccessToken | None:
    """Return the claims of an access token idp signed (any state), else None."""
    validator = AccessTokenValidator(current_app.config["IDP"].issuer)
    try:
        return validator.authenticate_token(token_string)
    except InvalidTokenError:
        return None


def read_id_token_hint(token_string: str) -> dict:
    """Claims of an ID token idp issued, expired or not (OIDC Core §3.1.2.1 id_token_hint).

    Raises InvalidRequestError when it is not one of ours.
    """
    from authlib.oauth2.rfc6749 import InvalidRequestError
    from joserfc import jwt
    from joserfc.errors import JoseError

    if not isinstance(token_string, str) or len(token_string) > 8192:
        raise InvalidRequestError("'id_token_hint' is not an ID token from this server.")
    keys = current_app.extensions["idp.keys"].verification_keyset()
    try:
        token = jwt.decode(token_string, keys, algorithms=list(ACCEPTED_ALGS))
    except (JoseError, ValueError) as exc:
        raise InvalidRequestError("'id_token_hint' is not an ID token from this server.") from exc
    claims = token.claims
    typ = str(token.header.get("typ", "JWT")).upper()
    if typ != "JWT" or claims.get("iss") != current_app.config["IDP"].issuer:
        # Access tokens (at+jwt) and logout tokens (logout+jwt) are not ID tokens.
        raise InvalidRequestError("'id_token_hint' is not an ID token from this server.")
    return dict(claims)


def refuse_request_objects(params) -> None:
    """OIDC Core §6: request objects are not supported, so say so rather than silently
    ignore parameters the client put only in them (discovery says the same)."""
    from authlib.oidc.core.errors import RequestNotSupportedError, RequestURINotSupportedError

    if params.get("request") is not None:
        raise RequestNotSupportedError("Request objects ('request') are not supported.")
    if params.get("request_uri") is not None:
        raise RequestURINotSupportedError("'request_uri' is not supported.")
