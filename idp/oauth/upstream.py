"""Upstream identity providers through Authlib's Flask client: no hand-written OAuth client.

`google` and `oidc` providers are OpenID Connect, discovered from
`<issuer>/.well-known/openid-configuration`; Authlib sends state, nonce and PKCE (S256) and
validates the upstream ID token with the claims options below (OIDC Core §3.1.3.7). Claims
the ID token lacks are read from the UserInfo endpoint (§5.3, §5.4). `github` is OAuth 2.0:
the profile comes from its user API and the email only from its emails API, and only a
verified one.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from authlib.integrations.base_client import OAuthError
from authlib.integrations.flask_client import FlaskOAuth2App, OAuth
from authlib.integrations.requests_client import OAuth2Session
from flask import Flask, current_app
from joserfc.errors import JoseError

from ..config import GOOGLE_ISSUER, ProviderConfig
from ..errors import UpstreamError
from ..services import outbound

HTTP_TIMEOUT_SECONDS = 10
# Clock skew allowed on the upstream's exp and iat (Authlib's default, made explicit).
CLOCK_SKEW_SECONDS = 120
# An ID token issued longer ago than this is refused even if unexpired (§3.1.3.7 step 10):
# the browser came straight from the upstream, so its token is seconds old.
ID_TOKEN_MAX_AGE_SECONDS = 10 * 60
# Verifiers pin their algorithms (RFC 8725 §3.1): asymmetric only, never `none` or an HMAC
# keyed with whatever the JWKS holds, whatever the upstream's metadata lists.
ID_TOKEN_ALGORITHMS = (
    "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA",
)  # fmt: skip
# Google documents both forms of its issuer in ID tokens.
GOOGLE_ISSUERS = (GOOGLE_ISSUER, "accounts.google.com")
PROFILE_CLAIMS = ("email", "email_verified", "name")


@dataclass(frozen=True)
class UpstreamProfile:
    """Who the upstream says signed in."""

    issuer: str
    subject: str
    email: str | None
    email_verified: bool
    name: str


# Everything the callback turns into "did not work": the upstream's errors, a refused token.
REFUSALS = (OAuthError, JoseError, UpstreamError)


def refusal_reason(exc: Exception) -> str:
    """A short reason for a refusal, for the log and the audit (never a token or a value)."""
    if isinstance(exc, OAuthError):
        return f"upstream error: {exc.error or 'unknown'}"[:200]
    if isinstance(exc, JoseError):
        return f"id_token refused: {exc.description or exc.error}"[:200]
    return str(exc)[:200]


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


def exchange_code(provider: ProviderConfig) -> dict:
    """Redeem the callback's code; for OpenID providers validate the ID token (§3.1.3.7).

    Raise one of REFUSALS when the upstream said no or its answer does not hold up, or
    requests.RequestException when it cannot be reached.
    """
    client = client_for(provider)
    if provider.kind == "github":
        return client.authorize_access_token()
    metadata = client.load_server_metadata()
    issuer = metadata.get("issuer") or ""
    # OpenID Connect Discovery §4.3: the metadata's issuer is the one we asked about.
    if issuer.rstrip("/") != provider.issuer.rstrip("/"):
        raise UpstreamError(f"metadata issuer {issuer[:100]!r} is not the configured issuer")
    algorithms = metadata.get("id_token_signing_alg_values_supported") or ["RS256"]
    metadata["id_token_signing_alg_values_supported"] = [
        alg for alg in algorithms if alg in ID_TOKEN_ALGORITHMS
    ] or ["RS256"]
    if not metadata.get("jwks_uri"):
        raise UpstreamError("metadata has no jwks_uri")
    try:
        token = client.authorize_access_token(
            claims_options=id_token_claims_options(issuer, provider.client_id),
            leeway=CLOCK_SKEW_SECONDS,
        )
    except (KeyError, TypeError, ValueError) as exc:
        # A JWKS or token response of the wrong shape (joserfc and Authlib index into it).
        raise UpstreamError(f"malformed answer from the upstream ({type(exc).__name__})") from exc
    if not token.get("userinfo"):
        raise UpstreamError("no ID token in the token response")
    return token


def id_token_claims_options(issuer: str, client_id: str) -> dict:
    """Authlib claims options for an upstream ID token: every claim §3.1.3.7 names.

    Authlib's IDToken adds the rest: `nonce` equal to the one sent, `azp` present when
    there are several audiences and, when present, equal to our client id.
    """
    issuers = list(GOOGLE_ISSUERS) if issuer == GOOGLE_ISSUER else [issuer]
    return {
        "iss": {"essential": True, "values": issuers},
        "sub": {"essential": True},
        "aud": {"essential": True, "value": client_id},
        "exp": {"essential": True},
        "iat": {"essential": True, "validate": _recent},
        "nonce": {"essential": True},
    }


def _recent(claims, iat) -> bool:
    return iat >= time.time() - ID_TOKEN_MAX_AGE_SECONDS - CLOCK_SKEW_SECONDS


def profile_from(provider: ProviderConfig, token: dict) -> UpstreamProfile:
    """Turn the upstream's token response into a profile; raise UpstreamError if unusable."""
    if provider.kind == "github":
        return _github_profile(provider, token)
    claims = dict(token["userinfo"])
    if any(name not in claims for name in PROFILE_CLAIMS):
        claims = _with_userinfo(provider, token, claims)
    email = claims.get("email")
    name = claims.get("name")
    return UpstreamProfile(
        issuer=client_for(provider).server_metadata["issuer"],
        subject=claims["sub"],
        email=email if isinstance(email, str) and email else None,
        email_verified=claims.get("email_verified") is True,
        name=name if isinstance(name, str) else "",
    )


def _with_userinfo(provider: ProviderConfig, token: dict, claims: dict) -> dict:
    """Fill in what the ID token lacks from UserInfo, about the same subject (§5.3.2)."""
    client = client_for(provider)
    if not client.server_metadata.get("userinfo_endpoint"):
        return claims
    try:
        info = client.userinfo(token=token)
    except (TypeError, ValueError) as exc:  # not a JSON object
        raise UpstreamError(f"malformed userinfo answer ({type(exc).__name__})") from exc
    if info.get("sub") != claims["sub"]:
        raise UpstreamError("userinfo sub differs from the ID token's")
    if "email" not in claims:
        claims["email"] = info.get("email")
        claims["email_verified"] = info.get("email_verified")
    elif "email_verified" not in claims and info.get("email") == claims["email"]:
        claims["email_verified"] = info.get("email_verified")
    if "name" not in claims:
        claims["name"] = info.get("name")
    return claims


def _github_profile(provider: ProviderConfig, token: dict) -> UpstreamProfile:
    client = client_for(provider)
    user = client.get("user", token=token)
    emails = client.get("user/emails", token=token)
    if user.status_code != 200 or emails.status_code != 200:
        raise UpstreamError(
            f"github api answered {user.status_code}/{emails.status_code}",
            hint="GitHub did not share your profile.",
        )
    profile, addresses = user.json(), emails.json()
    if not isinstance(profile, dict) or "id" not in profile or not isinstance(addresses, list):
        raise UpstreamError("github api answered an unexpected shape")
    verified = [e for e in addresses if isinstance(e, dict) and e.get("verified") is True]
    primary = next((e for e in verified if e.get("primary")), verified[0] if verified else None)
    if primary is None:
        raise UpstreamError(
            "github account has no verified email",
            hint="Your GitHub account has no verified email address. Verify one at GitHub, "
            "then try again.",
        )
    return UpstreamProfile(
        issuer=provider.api_url.rstrip("/"),
        subject=str(profile["id"]),
        email=primary["email"],
        email_verified=True,
        name=profile.get("name") or profile.get("login") or "",
    )
