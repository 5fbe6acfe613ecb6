"""RFC 8693 token exchange: a trusted backend obtains idp access tokens for a user it
authenticated itself (an existing login system, a test harness), instead of an ad-hoc "mint"
endpoint.

Authlib 1.9 ships no RFC 8693 grant (authlib/oauth2/rfc8693 is an empty package), so the
grant subclasses Authlib's RFC 7523 JWTBearerGrant: a JWT subject token is an RFC 7523 §3
assertion, verified by Authlib's process_assertion_claims with the key the client registered
for private_key_jwt. Subject tokens (`subject_token_type`):

- `urn:ietf:params:oauth:token-type:jwt`: signed by the backend with its registered key;
  `iss` its client_id, `aud` the issuer (or token endpoint), `sub` the idp user id or, without
  `sub`, `email` a verified email; `exp` at most five minutes away; `jti` accepted once.
- `urn:ietf:params:oauth:token-type:access_token`: an active idp access token for a user,
  issued to the client or addressed to it (delegation). The new token's scopes stay within
  it and it carries `act` naming the client (RFC 8693 §4.1).

Only confidential clients registered with the grant and a `token_exchange` allowance
(audiences, scopes) may exchange. The answer is an RFC 9068 access token (`aud` the requested
audience, else the client), no refresh or ID token. Every exchange, issued or refused, is
audited.
"""

from __future__ import annotations

from authlib.oauth2.rfc6749 import (
    InvalidGrantError,
    InvalidRequestError,
    InvalidScopeError,
    OAuth2Error,
    UnauthorizedClientError,
    list_to_scope,
    scope_to_list,
)
from authlib.oauth2.rfc7523 import JWTBearerGrant
from flask import current_app
from joserfc.errors import JoseError

from .. import clock
from ..services import replay, tokens, users
from ..services.clients import TOKEN_EXCHANGE_GRANT_TYPE
from .client_auth import CONFIDENTIAL_AUTH_METHODS, PrivateKeyJWT
from .tokens import token_claims
from .validators import ACCEPTED_ALGS, read_access_token

JWT_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:jwt"
ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"
SUBJECT_TOKEN_TYPES = (JWT_TOKEN_TYPE, ACCESS_TOKEN_TYPE)
SUBJECT_ASSERTION_MAX_SECONDS = 300
SINGLE_VALUED = ("subject_token", "subject_token_type", "requested_token_type", "scope")
AUDIT_TEXT_LENGTH = 200


class InvalidTargetError(OAuth2Error):
    """RFC 8693 §2.2.2 (RFC 8707 §2): an audience or resource the client may not ask for."""

    error = "invalid_target"


def _clip(value) -> str:
    return str(value)[:AUDIT_TEXT_LENGTH]


class TokenExchangeGrant(JWTBearerGrant):
    GRANT_TYPE = TOKEN_EXCHANGE_GRANT_TYPE
    TOKEN_ENDPOINT_AUTH_METHODS = CONFIDENTIAL_AUTH_METHODS
    CLAIMS_OPTIONS = {
        "iss": {"essential": True},
        "aud": {"essential": True},
        "exp": {"essential": True},
        "jti": {"essential": True},
    }
    LEEWAY = 30

    def __init__(self, request, server):
        super().__init__(request, server)
        self._targets: list[str] = []
        self._scope = ""
        self._actor: dict | None = None

    def validate_token_request(self):
        """Authenticate the client, check its allowance and the subject token; audit refusals."""
        try:
            self._validate()
        except OAuth2Error as error:
            client = self.request.client
            tokens.refuse_exchange(
                self.request.user,
                client.client_id if client is not None else None,
                error=error.error,
                reason=_clip(error.description or ""),
                subject_token_type=_clip(self.request.form.get("subject_token_type", "")),
                audience=[_clip(t) for t in self._requested_targets()[:10]],
            )
            raise

    def _validate(self) -> None:
        client = self.authenticate_token_endpoint_client()
        self.request.client = client
        allowance = client.client_metadata.get("token_exchange")
        if not client.check_grant_type(self.GRANT_TYPE) or not allowance:
            raise UnauthorizedClientError(
                f"The client is not authorized to use 'grant_type={self.GRANT_TYPE}'"
            )
        datalist = self.request.payload.datalist
        for name in SINGLE_VALUED:
            if len(datalist.get(name, [])) > 1:
                raise InvalidRequestError(f"Multiple '{name}' in request.")
        form = self.request.form
        if form.get("actor_token") or form.get("actor_token_type"):
            raise InvalidRequestError("'actor_token' is not supported.")
        requested_type = form.get("requested_token_type")
        if requested_type and requested_type != ACCESS_TOKEN_TYPE:
            raise InvalidRequestError(f"Only '{ACCESS_TOKEN_TYPE}' can be issued.")
        subject_token = form.get("subject_token")
        subject_token_type = form.get("subject_token_type")
        if not subject_token or not subject_token_type:
            raise InvalidRequestError("'subject_token' and 'subject_token_type' are required.")
        if subject_token_type not in SUBJECT_TOKEN_TYPES:
            raise InvalidRequestError(
                f"'subject_token_type' must be one of: {', '.join(SUBJECT_TOKEN_TYPES)}"
            )
        if len(subject_token) > 8192:
            raise InvalidRequestError("The 'subject_token' is too long.")
        allowed_scopes = list(allowance.get("scopes", []))
        if subject_token_type == JWT_TOKEN_TYPE:
            user = self._user_from_assertion(client, subject_token)
        else:
            user, subject_scopes = self._user_from_access_token(client, subject_token)
            allowed_scopes = [s for s in allowed_scopes if s in subject_scopes]
        self.request.user = user
        if user.disabled:
            raise InvalidGrantError("The user of this subject token cannot sign in.")
        self._targets = self._allowed_targets(client, allowance)
        self._scope = self._allowed_scope(allowed_scopes)

    def _requested_targets(self) -> list[str]:
        datalist = self.request.payload.datalist
        return list(dict.fromkeys([*datalist.get("audience", []), *datalist.get("resource", [])]))

    def _allowed_targets(self, client, allowance: dict) -> list[str]:
        """`audience` and `resource` values, each allowed for the client (or the client)."""
        allowed = {*allowance.get("audiences", []), client.client_id}
        targets = self._requested_targets()
        refused = [t for t in targets if t not in allowed]
        if refused:
            raise InvalidTargetError(description=f"The client may not ask for {refused[0]!r}.")
        return targets

    def _allowed_scope(self, allowed: list[str]) -> str:
        """The requested scope when all of it is allowed; the whole allowance when none is."""
        requested = scope_to_list(self.request.payload.scope) or []
        if requested and not set(requested) <= set(allowed):
            raise InvalidScopeError()
        scope = list_to_scope(list(dict.fromkeys(requested or allowed)))
        if not scope:
            raise InvalidScopeError()
        return scope

    def _user_from_assertion(self, client, subject_token: str):
        metadata = client.client_metadata
        if not metadata.get("jwks") and not metadata.get("jwks_uri"):
            raise InvalidRequestError(
                "JWT subject tokens are signed with keys registered for private_key_jwt."
            )
        try:
            _, unverified = self.extract_assertion(subject_token)
            if unverified.get("iss") != client.client_id:
                raise InvalidGrantError("The subject token's 'iss' must be the client_id.")
            claims = self.process_assertion_claims(subject_token)
        except InvalidGrantError as error:
            # RFC 8693 §2.2.2: an invalid subject_token is invalid_request.
            raise InvalidRequestError(f"subject_token: {error.description}") from error
        now = clock.now()
        if claims["exp"] > now + SUBJECT_ASSERTION_MAX_SECONDS + self.LEEWAY:
            raise InvalidRequestError(
                f"subject_token: 'exp' must be at most {SUBJECT_ASSERTION_MAX_SECONDS} s away."
            )
        jti = claims["jti"]
        if not isinstance(jti, str) or len(jti) > 256:
            raise InvalidRequestError("subject_token: invalid 'jti'.")
        ttl = int(claims["exp"] - now) + self.LEEWAY
        if not replay.first_use(replay.SUBJECT_ASSERTION_PREFIX, client.client_id, jti, ttl):
            raise InvalidRequestError("subject_token: this 'jti' was already used.")
        user = self.authenticate_user(claims.get("sub"), claims.get("email"))
        if user is None:
            raise InvalidRequestError("subject_token: 'sub' or 'email' names no user of idp.")
        return user

    def _user_from_access_token(self, client, subject_token: str):
        token = read_access_token(subject_token)
        try:
            if token is None:
                raise JoseError()
            token.validate()
        except JoseError as error:
            raise InvalidRequestError("subject_token is not an active idp access token.") from error
        if token.is_revoked():
            raise InvalidRequestError("subject_token is not an active idp access token.")
        if not (token.check_client(client) or token.is_audience(client.client_id)):
            raise InvalidRequestError("subject_token was not issued to or for this client.")
        user = users.get_user_by_subject(token.get("sub"))
        if user is None:
            raise InvalidRequestError("subject_token does not name a user.")
        # RFC 8693 §4.1: the client acts for the user; earlier actors nest inside.
        self._actor = {"sub": client.client_id}
        if isinstance(token.get("act"), dict):
            self._actor["act"] = token["act"]
        return user, scope_to_list(token.scope) or []

    def resolve_issuer_client(self, issuer):
        client = self.request.client
        return client if issuer == client.client_id else None

    def resolve_client_public_key(self, client):
        try:
            keys = PrivateKeyJWT().resolve_client_public_key(client)
        except OAuth2Error as error:
            raise InvalidGrantError(error.description) from error

        def pinned(token):
            # RFC 8725 §3.1: only the asymmetric algorithms we accept anywhere.
            if token.headers().get("alg") not in ACCEPTED_ALGS:
                raise InvalidGrantError("Unsupported 'alg'.")
            return keys

        return pinned

    def get_audiences(self) -> list[str]:
        issuer = current_app.config["IDP"].issuer
        return [issuer, f"{issuer}/token"]

    def authenticate_user(self, subject, email=None):
        """The user named by `sub` (idp's user id), else by a verified `email`; else None."""
        if subject is not None:
            return users.get_user_by_subject(subject)
        if isinstance(email, str) and email:
            user = users.find_by_email(email)
            return user if user is not None and user.email_verified else None
        return None

    def create_token_response(self):
        client = self.request.client
        user = self.request.user
        audience = self._targets[0] if len(self._targets) == 1 else self._targets
        with token_claims(aud=audience, act=self._actor):
            token = self.generate_token(user=user, scope=self._scope, include_refresh_token=False)
        token["issued_token_type"] = ACCESS_TOKEN_TYPE
        tokens.finish_exchange(
            user,
            client.client_id,
            subject_token_type=self.request.form["subject_token_type"],
            audience=self._targets or [client.client_id],
            scope=self._scope,
        )
        return 200, token, self.TOKEN_RESPONSE_HEADER
