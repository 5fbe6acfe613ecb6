"""Upstream identity providers through Authlib's Flask client: no hand-written OAuth client.

`google` and `oidc` providers are OpenID Connect, discovered from
`<issuer>/.well-known/openid-configuration`; Authlib sends state, nonce and PKCE (S256) and
validates the upstream ID token (signature from its JWKS, iss, aud, exp, nonce). `github` is
OAuth 2.0: the profile comes from its user API and the email only from its emails API, and
only a verified one.
"""

from __future__ import annotations

from dataclasses import dataclass

from authlib.integrations.flask_client import FlaskOAuth2App, OAuth
from authlib.integrations.requests_client import OAuth2Session
from flask import Flask, current_app

from ..config import ProviderConfig
from ..services import outbound

HTTP_TIMEOUT_SECONDS = 10


@dataclass(frozen=True)
class UpstreamProfile:
    """Who the upstream says signed in."""

    issuer: str
    subject: str
    email: str | None
    email_verified: bool
    name: str


class UpstreamError(Exception):
    """The upstream answered something we cannot use; the message is safe to show."""


def _checked_registry(app: Flask) -> OAuth:
    """Authlib's Flask registry whose HTTP sessions are the outbound client (SSRF rules)."""
    policy = app.extensions["idp.outbound"]

    class CheckedSession(outbound.CheckedSessionMixin, OAuth2Session):
        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            self._use_policy(policy)

    class CheckedApp(FlaskOAuth2App):
        client_cls = CheckedSession

    class CheckedOAuth(OAuth):
        oauth2_client_cls = CheckedApp

    return CheckedOAuth(app)


def init_upstream(app: Flask) -> None:
    """Register every configured provider with a per-app Authlib OAuth registry."""
    registry = _checked_registry(app)
    for item in app.config["IDP"].providers:
        client_kwargs = {
            "scope": item.scopes,
            "code_challenge_method": "S256",
            "timeout": HTTP_TIMEOUT_SECONDS,
        }
        if item.kind == "github":
            registry.register(
                item.name,
                client_id=item.client_id,
                client_secret=item.client_secret,
                authorize_url=item.authorize_url,
                access_token_url=item.token_url,
                api_base_url=item.api_url,
                client_kwargs=client_kwargs,
            )
        else:
            registry.register(
                item.name,
                client_id=item.client_id,
                client_secret=item.client_secret,
                server_metadata_url=item.issuer.rstrip("/") + "/.well-known/openid-configuration",
                client_kwargs=client_kwargs,
            )
    app.extensions["idp.upstream"] = registry


def find_provider(name: str) -> ProviderConfig | None:
    return next((p for p in current_app.config["IDP"].providers if p.name == name), None)


def client_for(provider: ProviderConfig):
    return current_app.extensions["idp.upstream"].create_client(provider.name)


def profile_from(provider: ProviderConfig, token: dict) -> UpstreamProfile:
    """Turn the upstream's token response into a profile; raise UpstreamError if unusable."""
    if provider.kind == "github":
        return _github_profile(provider, token)
    claims = token.get("userinfo")
    if not claims or not claims.get("sub"):
        raise UpstreamError("The provider did not say who signed in.")
    return UpstreamProfile(
        issuer=claims["iss"],
        subject=str(claims["sub"]),
        email=(claims.get("email") or None),
        email_verified=claims.get("email_verified") is True,
        name=claims.get("name") or "",
    )


def _github_profile(provider: ProviderConfig, token: dict) -> UpstreamProfile:
    client = client_for(provider)
    user = client.get("user", token=token)
    emails = client.get("user/emails", token=token)
    if user.status_code != 200 or emails.status_code != 200:
        raise UpstreamError("GitHub did not share your profile.")
    profile, addresses = user.json(), emails.json()
    verified = [e for e in addresses if isinstance(e, dict) and e.get("verified") is True]
    primary = next((e for e in verified if e.get("primary")), verified[0] if verified else None)
    if primary is None:
        raise UpstreamError(
            "Your GitHub account has no verified email address. Verify one at GitHub, "
            "then try again."
        )
    return UpstreamProfile(
        issuer=provider.api_url.rstrip("/"),
        subject=str(profile["id"]),
        email=primary["email"],
        email_verified=True,
        name=profile.get("name") or profile.get("login") or "",
    )
