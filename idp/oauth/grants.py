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
    grants,
)
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oidc.core import OpenIDCode
from flask import current_app

from ..services import codes, users
from .claims import user_info
from .responses import RESPONSE_MODES, authorization_response

CLIENT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "none"]


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
    TOKEN_ENDPOINT_AUTH_METHODS = CLIENT_AUTH_METHODS
    AUTHORIZATION_CODE_LENGTH = 43  # about 256 bits from Authlib's alphabet
    DEFAULT_RESPONSE_MODE = "query"

    def __init__(self, request, server):
        super().__init__(request, server)
        self.register_hook("after_validate_authorization_request_payload", validate_response_mode)

    def create_authorization_response(self, redirect_uri: str, grant_user):
        """Issue the code, then answer by the requested response mode with `iss`."""
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
        return codes.find_code(code, client.client_id)

    def delete_authorization_code(self, authorization_code):
        # Consumed atomically in authenticate_user; the used row stays for replay detection.
        return None

    def authenticate_user(self, authorization_code):
        if not codes.consume_code(authorization_code):
            raise InvalidGrantError("The authorization code was already used.")
        user = users.get_user(authorization_code.user_id)
        if user is None or user.disabled:
            raise InvalidGrantError("The user of this code cannot sign in.")
        return user


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
        return "RS256"

    def get_client_claims(self, client) -> dict:
        config = current_app.config["IDP"]
        return {
            "iss": config.issuer,
            "aud": [client.get_client_id()],
            "exp": int(time.time()) + config.id_token_ttl,
        }

    def get_authorization_code_claims(self, authorization_code) -> dict:
        claims = super().get_authorization_code_claims(authorization_code)
        if authorization_code.session_id:
            claims["sid"] = str(authorization_code.session_id)
        return claims

    def exists_nonce(self, nonce, request) -> bool:
        return codes.nonce_was_used(request.payload.client_id, nonce)

    def generate_user_info(self, user, scope):
        return user_info(user, scope)
