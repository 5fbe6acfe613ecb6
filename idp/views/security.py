"""Headers every response carries: CSP, no framing, no sniffing, same-origin referrer, HSTS."""

from __future__ import annotations

from flask import Flask, Response

from ..csrf import REFERRER_POLICY

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
)
# Images may come from any https origin: a client's logo_uri and the brand's logo live on
# their owners' servers. An image runs no script; what it can leak (that this page was
# shown) the app that sent the person here knows already. Loopback http is for development.
IMAGE_SOURCES = "'self' https:"
DEV_IMAGE_SOURCES = " http://localhost:* http://127.0.0.1:* http://[::1]:*"


def content_security_policy(production: bool = True, style_origins: tuple[str, ...] = ()) -> str:
    """The policy every response carries; only images and a brand stylesheet widen it."""
    images = IMAGE_SOURCES + ("" if production else DEV_IMAGE_SOURCES)
    policy = f"{CONTENT_SECURITY_POLICY}; img-src {images}"
    if style_origins:
        policy += "; style-src 'self' " + " ".join(style_origins)
    return policy


def security_headers(
    https: bool, policy: str = CONTENT_SECURITY_POLICY
) -> list[tuple[str, str]]:
    headers = [
        ("Content-Security-Policy", policy),
        ("X-Frame-Options", "DENY"),
        ("X-Content-Type-Options", "nosniff"),
        # same-origin, not no-referrer: see idp/csrf.py (Origin: null breaks the form check).
        ("Referrer-Policy", REFERRER_POLICY),
    ]
    if https:
        headers.append(("Strict-Transport-Security", "max-age=63072000; includeSubDomains"))
    return headers


def app_security_headers(app: Flask) -> list[tuple[str, str]]:
    """The headers every response of this app carries (its CSP widened by its brand)."""
    from .branding import csp_sources

    settings = app.config["IDP"]
    policy = content_security_policy(
        settings.production, tuple(csp_sources(app)["style-src"])
    )
    return security_headers(settings.https, policy)


def init_app(app: Flask) -> None:
    defaults = app_security_headers(app)

    @app.after_request
    def add_security_headers(response: Response) -> Response:
        headers = response.headers
        for name, value in defaults:
            headers.setdefault(name, value)
        return response
