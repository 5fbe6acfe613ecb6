"""The Authlib authorization server, built once per app in init_oauth."""

from __future__ import annotations

from collections.abc import Mapping

from authlib.integrations.flask_oauth2 import AuthorizationServer, ResourceProtector
from authlib.integrations.flask_oauth2.requests import FlaskOAuth2Payload
from authlib.oauth2.rfc6749 import InvalidRequestError, OAuth2Request
from authlib.oauth2.rfc6749.requests import BasicOAuth2Payload
from authlib.oidc.core import UserInfoEndpoint
from flask import Flask, current_app, g
from flask import request as flask_request

from ..services import client_cache, tokens
from . import client_auth
from .claims import user_info
from .endpoints import EndSessionEndpoint, IntrospectionEndpoint, RevocationEndpoint
from .grants import (
    AuthorizationCodeGrant,
    ClientCredentialsGrant,
    IdpOpenIDCode,
    RefreshTokenGrant,
    S256CodeChallenge,
)
from .keys import config_retired_ttl
from .registration import ConfigurationEndpoint, RegistrationEndpoint
from .token_exchange import TokenExchangeGrant
from .tokens import AccessTokenGenerator
from .validators import AccessTokenValidator


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
        if isinstance(request, OAuth2Request):
            return request  # built once per request (create_token_response below)
        params = request if isinstance(request, Mapping) else None
        return IssuerRequest(current_app.config["IDP"].issuer, params)

    def create_token_response(self, request=None):
        # RFC 6749 §5.2: a missing parameter is invalid_request; Authlib answers
        # unsupported_grant_type, which is for a grant_type it does not know.
        oauth_request = self.create_oauth2_request(request)
        if not oauth_request.payload.grant_type:
            missing = InvalidRequestError(description="The 'grant_type' parameter is missing.")
            return self.handle_error_response(oauth_request, missing)
        return super().create_token_response(oauth_request)

    def validate_requested_scope(self, scope):
        # Scopes are checked per client (Client.get_allowed_scope), which is stricter.
        return None

    def authenticate_client(self, request, methods, endpoint="token"):
        client = super().authenticate_client(request, methods, endpoint)
        # For the request's log line: Basic and private_key_jwt carry no form client_id.
        g.authenticated_client_id = client.client_id
        return client


class IdpUserInfoEndpoint(UserInfoEndpoint):
    def get_issuer(self) -> str:
        return current_app.config["IDP"].issuer

    def generate_user_info(self, user, scope):
        return user_info(user, scope)

    def resolve_private_key(self):
        return current_app.extensions["idp.keys"].signing_keyset("RS256")


def _save_token(token: dict, request) -> None:
    """Stage what a grant issued; the grant commits it with its audit record."""
    if request.authorization_code is not None:
        tokens.stage_code_exchange(request.authorization_code, token)
    elif request.refresh_token is not None and "refresh_token" in token:
        tokens.stage_successor(request.refresh_token, token)


def init_oauth(app: Flask) -> None:
    """Build the authorization server for this app and store it in app.extensions."""
    config = app.config["IDP"]
    # Retired keys stay in JWKS as long as the tokens they signed can live.
    app.extensions["idp.keys"].configure(config_retired_ttl(config))
    server = IdpAuthorizationServer()
    server.init_app(app, query_client=client_cache.cached_client, save_token=_save_token)
    server.register_token_generator(
        "default",
        AccessTokenGenerator(
            config.issuer,
            config.access_token_ttl,
            refresh_token_generator=lambda **_: tokens.new_refresh_token(),
        ),
    )
    client_auth.register(server)
    openid = IdpOpenIDCode(require_nonce=False)
    server.register_grant(AuthorizationCodeGrant, [S256CodeChallenge(required=True), openid])
    server.register_grant(RefreshTokenGrant, [openid])
    server.register_grant(ClientCredentialsGrant)
    server.register_grant(TokenExchangeGrant)
    server.register_endpoint(RevocationEndpoint)
    server.register_endpoint(IntrospectionEndpoint)
    server.register_endpoint(EndSessionEndpoint)
    server.register_endpoint(RegistrationEndpoint)
    server.register_endpoint(ConfigurationEndpoint)
    protector = ResourceProtector()
    protector.register_token_validator(AccessTokenValidator(config.issuer))
    server.register_endpoint(IdpUserInfoEndpoint(resource_protector=protector))
    app.extensions["idp.oauth"] = server
    app.extensions["idp.resource_protector"] = protector
