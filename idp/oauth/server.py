"""The Authlib authorization server, built once per app in init_oauth."""

from __future__ import annotations

from collections.abc import Mapping

from authlib.integrations.flask_oauth2 import AuthorizationServer, ResourceProtector
from authlib.integrations.flask_oauth2.requests import FlaskOAuth2Payload
from authlib.oauth2.rfc6749 import OAuth2Request
from authlib.oauth2.rfc6749.requests import BasicOAuth2Payload
from authlib.oauth2.rfc6749.util import extract_basic_authorization
from authlib.oidc.core import UserInfoEndpoint
from flask import Flask, current_app
from flask import request as flask_request

from ..services import clients
from .claims import user_info
from .grants import AuthorizationCodeGrant, IdpOpenIDCode, S256CodeChallenge
from .tokens import AccessTokenGenerator
from .validators import AccessTokenValidator

SCOPES_SUPPORTED = ["openid", "profile", "email"]


class IssuerRequest(OAuth2Request):
    """An OAuth2Request whose URI is built from the issuer, not from proxy-dependent headers."""

    def __init__(self, issuer: str, params: Mapping[str, str] | None = None) -> None:
        super().__init__(
            method=flask_request.method if params is None else "GET",
            uri=issuer + flask_request.path,
            headers=flask_request.headers,
        )
        if params is None:
            self.payload = FlaskOAuth2Payload(flask_request)
        else:
            # A parked authorization request, resumed after sign-in or consent.
            self.payload = BasicOAuth2Payload(dict(params))
        self.browser_session = None

    @property
    def args(self):
        return flask_request.args

    @property
    def form(self):
        return flask_request.form


class IdpAuthorizationServer(AuthorizationServer):
    def create_oauth2_request(self, request):
        params = request if isinstance(request, Mapping) else None
        return IssuerRequest(current_app.config["IDP"].issuer, params)


class IdpUserInfoEndpoint(UserInfoEndpoint):
    def get_issuer(self) -> str:
        return current_app.config["IDP"].issuer

    def generate_user_info(self, user, scope):
        return user_info(user, scope)

    def resolve_private_key(self):
        return current_app.extensions["idp.keys"].signing_keyset("RS256")


def _client_secret_basic(query_client, request):
    try:
        client_id, client_secret = extract_basic_authorization(request.headers)
    except (UnicodeDecodeError, ValueError):
        return None
    return _check_secret(query_client, client_id, client_secret)


def _client_secret_post(query_client, request):
    return _check_secret(
        query_client, request.form.get("client_id"), request.form.get("client_secret")
    )


def _check_secret(query_client, client_id, client_secret):
    # One answer for an unknown client and a wrong secret.
    if not client_id or not client_secret:
        return None
    client = query_client(client_id)
    if client is not None and client.check_client_secret(client_secret):
        return client
    return None


def _none(query_client, request):
    client_id = request.form.get("client_id")
    if not client_id or request.form.get("client_secret"):
        return None
    if request.headers.get("Authorization"):
        return None
    return query_client(client_id)


def _save_token(token, request) -> None:
    """Access tokens are self-contained JWTs; nothing is stored for them here."""
    return None


def init_oauth(app: Flask) -> None:
    """Build the authorization server for this app and store it in app.extensions."""
    config = app.config["IDP"]
    server = IdpAuthorizationServer()
    server.init_app(app, query_client=clients.find_client, save_token=_save_token)
    server.scopes_supported = SCOPES_SUPPORTED
    server.register_token_generator(
        "default", AccessTokenGenerator(config.issuer, config.access_token_ttl)
    )
    server.register_client_auth_method("client_secret_basic", _client_secret_basic)
    server.register_client_auth_method("client_secret_post", _client_secret_post)
    server.register_client_auth_method("none", _none)
    server.register_grant(
        AuthorizationCodeGrant,
        [S256CodeChallenge(required=True), IdpOpenIDCode(require_nonce=False)],
    )
    protector = ResourceProtector()
    protector.register_token_validator(AccessTokenValidator(config.issuer))
    server.register_endpoint(IdpUserInfoEndpoint(resource_protector=protector))
    app.extensions["idp.oauth"] = server
    app.extensions["idp.resource_protector"] = protector
