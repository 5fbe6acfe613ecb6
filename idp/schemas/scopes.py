"""The scopes idp knows: one registry for discovery, the consent page, registration and claims.

Each scope says in plain words what it lets an app do (the consent page), which user claims
it releases (OIDC Core §5.4; the ID token and /userinfo), whether discovery advertises it
(`scopes_supported`) and whether dynamically registered clients may ask for it. A scope not
listed here can still be registered for a client by an operator (an API's own scope); the
consent page then names it as a permission.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

OFFLINE_ACCESS = "offline_access"
ADMIN = "idp:admin"
# Claims about the sign-in itself, in every ID token whatever the scope.
ID_TOKEN_CLAIMS = (
    "iss",
    "sub",
    "aud",
    "exp",
    "iat",
    "auth_time",
    "nonce",
    "at_hash",
    "amr",
    "sid",
    "acr",
)


def N_(message: str) -> str:  # noqa: N802 - the gettext convention
    """Mark a consent text for extraction (make translations); the page translates it."""
    return message


@dataclass(frozen=True)
class Scope:
    name: str
    consent: str  # what the consent page says the app may do
    claims: tuple[str, ...] = ()  # the user claims it releases
    advertised: bool = True  # in discovery's scopes_supported
    registrable: bool = True  # dynamic registration (RFC 7591) may ask for it


SCOPES = (
    Scope("openid", N_("Know who you are when you sign in"), ("sub",)),
    Scope("profile", N_("See your name"), ("name",)),
    Scope(
        "email",
        N_("See your email address and whether it is verified"),
        ("email", "email_verified"),
    ),
    Scope(OFFLINE_ACCESS, N_("Keep access while you are not using the app")),
    Scope("roles", N_("See your roles"), ("roles",)),
    Scope(ADMIN, N_("Administer this identity provider"), advertised=False, registrable=False),
)
BY_NAME = {scope.name: scope for scope in SCOPES}


def supported() -> list[str]:
    """Discovery's scopes_supported."""
    return [scope.name for scope in SCOPES if scope.advertised]


def registrable() -> list[str]:
    """The scopes a dynamically registered client may ask for."""
    return [scope.name for scope in SCOPES if scope.registrable]


def claims_supported() -> list[str]:
    """Discovery's claims_supported: the sign-in claims, then those the scopes release."""
    user_claims = (claim for scope in SCOPES if scope.advertised for claim in scope.claims)
    return list(dict.fromkeys([*ID_TOKEN_CLAIMS, *user_claims]))


def consent_text(name: str) -> str:
    """What the consent page says scope `name` lets the app do."""
    scope = BY_NAME.get(name)
    return scope.consent if scope else f"Use the “{name}” permission"


def release(claims: Mapping[str, Any], granted: Iterable[str]) -> dict[str, Any]:
    """The claims (of those given) that the granted scopes release; `sub` always, None never."""
    allowed = {"sub"}
    for name in granted:
        if name in BY_NAME:
            allowed.update(BY_NAME[name].claims)
    return {k: v for k, v in claims.items() if k in allowed and v is not None}
