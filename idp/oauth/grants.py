"""Grant classes: Authlib's, with hooks that call our services."""

from __future__ import annotations

import hashlib
import hmac
import time
from urllib.parse import urlsplit

from authlib.common.encoding import to_unicode, urlsafe_b64encode
from authlib.oauth2.rfc6749 import (
    AccessDeniedError,
    InvalidGrantError,
    InvalidRequestError,
    InvalidScopeError,
    grants,
)
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oidc.core import OpenIDCode
from flask import current_app

from .. import clock
from ..services import codes, retry, signin, tokens, users
from ..services.mfa import acr_for
from .claims import user_info
from .client_auth import ALL_AUTH_METHODS, CONFIDENTIAL_AUTH_METHODS
from .responses import RESPONSE_MODES, authorization_response

# A duplicate reads the first response after the first request committed; a little slack.
RECALL_WAIT_SECONDS = 0.5


def compare_s256_code_challenge(code_verifier: str, code_challenge: str) -> bool:
    """RFC 7636 §4.6, compared in constant time."""
    digest = hashlib.sha256(code_verifier.encode("ascii")).digest()
    return hmac.compare_digest(to_unicode(urlsafe_b64encode(digest)), code_challenge)


class S256CodeChallenge(CodeChallenge):
    """PKCE with S256 only (RFC 9700 §2.1.1), required up front for public clients."""

    DEFAULT_CODE_CHALLENGE_METHOD = "S256"
    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]
    CODE_CHALLENGE_METHODS = {"S256": compare_s256_code_challenge}

    def validate_code_challenge(self, grant, redirect_uri):
        data = grant.request.payload.data
        challenge = data.get("code_challenge")
        if challenge and not data.get("code_challenge_method"):
            # RFC 7636 would default to "plain", which we refuse.
            raise InvalidRequestError("'code_challenge_method' must be 'S256'")
        if not challenge and grant.request.client.is_public:
            raise InvalidRequestError("PKCE is required: send 'code_challenge' with method 'S256'")
        super().validate_code_challenge(grant, redirect_uri)


class AuthorizationCodeGrant(grants.AuthorizationCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = ALL_AUTH_METHODS
    AUTHORIZATION_CODE_LENGTH = 43  # about 256 bits from Authlib's alphabet
    DEFAULT_RESPONSE_MODE = "query"

    def __init__(self, request, server):
        super().__init__(request, server)
        self.register_hook("after_validate_authorization_request_payload", validate_response_mode)

    def create_authorization_response(self, redirect_uri: str, grant_user):
        """Issue the code; return the AuthorizationResponse (with `iss`) that views/oauth.py
        sends by the requested response mode (this overrides Authlib's (status, body,
        headers): the form_post page is rendered by the view)."""
        if not grant_user:
            raise AccessDeniedError(redirect_uri=redirect_uri)
        self.request.user = grant_user
        code = self.generate_authorization_code()
        self.save_authorization_code(code, self.request)
        params = [("code", code)]
        if self.request.payload.state:
            params.append(("state", self.request.payload.state))
        return authorization_response(
            redirect_uri, params, self.request.payload.data.get("response_mode")
        )

    def save_authorization_code(self, code, request):
        codes.save_code(code, request, request.browser_session)

    def query_authorization_code(self, code, client):
        item = codes.find_code(code, client.client_id)
        if item is None or item.is_expired():
            return None
        if item.used_at is not None:
            tokens.revoke_code_grant(item)
            return None
        return item

    def delete_authorization_code(self, authorization_code):
        # Consumed atomically in authenticate_user; the used row stays for replay detection.
        return None

    def authenticate_user(self, authorization_code):
        if not codes.consume_code(authorization_code):
            # A concurrent exchange won the code: this one is a replay.
            tokens.revoke_code_grant(authorization_code)
            raise InvalidGrantError("The authorization code was already used.")
        user = users.get_user(authorization_code.user_id)
        if user is None or user.disabled:
            raise InvalidGrantError("The user of this code cannot sign in.")
        return user

    def create_token_response(self):
        status, token, headers = super().create_token_response()
        tokens.finish_code_exchange(self.request.authorization_code, token, self.GRANT_TYPE)
        return status, token, headers


class RefreshTokenGrant(grants.RefreshTokenGrant):
    """Rotation on every use, reuse detection, and the optional retry window."""

    TOKEN_ENDPOINT_AUTH_METHODS = ALL_AUTH_METHODS
    INCLUDE_NEW_REFRESH_TOKEN = True

    def authenticate_refresh_token(self, refresh_token):
        client = self.request.client
        claimed = tokens.claim_refresh_token(refresh_token, client.client_id)
        if claimed is not None:
            row, self._claimed_user = claimed
            return row
        # Not claimable: unknown, another client's, used, revoked or expired.
        row = tokens.find_refresh_token(refresh_token)
        if row is None:
            return None
        if not row.check_client(client):
            tokens.refuse_foreign_client(row, client.client_id)
            return None
        if row.revoked_at is not None or row.used_at is not None:
            replay = self._recall_successor(row)
            if replay is None:
                tokens.handle_reuse(row, client)
                return None
            self.request.retry_response = replay
            return row
        return None  # expired

    def _recall_successor(self, row) -> dict | None:
        """The first response to a lost-response retry, when the window allows one.

        A concurrent duplicate gets here only after the first request committed (its claim
        waited on the row lock), and the first stored its response before committing."""
        window = tokens.retry_window(self.request.client)
        if window <= 0 or row.revoked_at is not None:
            return None
        if row.used_at is not None and (clock.utcnow() - row.used_at).total_seconds() > window:
            return None
        return retry.recall(
            self.request.form["refresh_token"],
            retry.fingerprint(self.request.client.client_id, self.request.payload.scope),
            RECALL_WAIT_SECONDS,
        )

    def authenticate_user(self, refresh_token):
        user = getattr(self, "_claimed_user", None) or users.get_user(refresh_token.user_id)
        if user is None or user.disabled:
            raise InvalidGrantError("The user of this token cannot sign in.")
        return user

    def revoke_old_credential(self, refresh_token):
        # Marked used atomically before the successor was made.
        return None

    def create_token_response(self):
        replay = getattr(self.request, "retry_response", None)
        if replay is not None:
            return 200, replay, self.TOKEN_RESPONSE_HEADER
        # authenticate_refresh_token claimed the token (marked it used, uncommitted).
        presented = self.request.refresh_token
        client = self.request.client
        status, token, headers = super().create_token_response()
        window = tokens.retry_window(client)
        if window > 0:
            retry.remember(
                self.request.form["refresh_token"],
                retry.fingerprint(client.client_id, self.request.payload.scope),
                token,
                window,
            )
        tokens.finish_rotation(presented, client.client_id, token.get("scope"))
        return status, token, headers


class ClientCredentialsGrant(grants.ClientCredentialsGrant):
    """Service-to-service tokens: confidential clients only, `sub` is the client."""

    TOKEN_ENDPOINT_AUTH_METHODS = CONFIDENTIAL_AUTH_METHODS

    def create_token_response(self):
        client = self.request.client
        scope = client.get_allowed_scope(self.request.payload.scope)
        if scope is None:
            raise InvalidScopeError()
        token = self.generate_token(scope=scope, include_refresh_token=False)
        tokens.finish_client_credentials(client.client_id, self.GRANT_TYPE, scope)
        return 200, token, self.TOKEN_RESPONSE_HEADER


def validate_response_mode(grant, _result):
    """Only query and form_post; form_post only to http(s) URIs (a form cannot post elsewhere)."""
    response_mode = grant.request.payload.data.get("response_mode")
    if response_mode and response_mode not in RESPONSE_MODES:
        raise InvalidRequestError(f"'response_mode' must be one of: {', '.join(RESPONSE_MODES)}")
    redirect_uri = grant.request.payload.redirect_uri or ""
    if response_mode == "form_post" and urlsplit(redirect_uri).scheme not in ("http", "https"):
        raise InvalidRequestError("The 'form_post' response mode needs an http(s) redirect URI.")


class IdpOpenIDCode(OpenIDCode):
    """ID tokens for the code flow, signed with the active key."""

    def resolve_client_private_key(self, client):
        return current_app.extensions["idp.keys"].signing_keyset(self.get_client_algorithm(client))

    def get_client_algorithm(self, client) -> str:
        """The client's registered `id_token_signed_response_alg` while a key of it is active;
        RS256 otherwise (OIDC Registration §2)."""
        alg = client.id_token_signed_response_alg
        if alg and alg in current_app.extensions["idp.keys"].algorithms:
            return alg
        return "RS256"

    def get_client_claims(self, client) -> dict:
        config = current_app.config["IDP"]
        return {
            "iss": config.issuer,
            "aud": [client.get_client_id()],
            "exp": int(time.time()) + config.id_token_ttl,
        }

    def get_compatible_claims(self, request) -> dict:
        claims = super().get_compatible_claims(request)
        refresh_token = request.refresh_token
        if refresh_token is not None:
            # OIDC Core §12.2: a refreshed ID token keeps the original authentication.
            claims["auth_time"] = refresh_token.auth_time
            if refresh_token.amr:
                claims["amr"] = refresh_token.amr
            claims["acr"] = acr_for(refresh_token.amr)
            if refresh_token.session_id:
                claims["sid"] = str(refresh_token.session_id)
                claims.update(_upstream_claim(refresh_token.session_id))
        return claims

    def get_authorization_code_claims(self, authorization_code) -> dict:
        claims = super().get_authorization_code_claims(authorization_code)
        if authorization_code.session_id:
            claims["sid"] = str(authorization_code.session_id)
            claims.update(_upstream_claim(authorization_code.session_id))
        return claims

    def exists_nonce(self, nonce, request) -> bool:
        return codes.nonce_was_used(request.payload.client_id, nonce)

    def generate_user_info(self, user, scope):
        return user_info(user, scope)


def _upstream_claim(session_id) -> dict:
    """`idp`: the upstream provider the user signed in through, when there was one."""
    upstream = signin.upstream_of(session_id)
    return {"idp": upstream} if upstream else {}
