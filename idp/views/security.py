"""Headers every response carries: CSP, no framing, no sniffing, same-origin referrer, HSTS."""

from __future__ import annotations

from flask import Flask, Response

from ..csrf import REFERRER_POLICY

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
)


def security_headers(https: bool) -> list[tuple[str, str]]:
    headers = [
        ("Content-Security-Policy", CONTENT_SECURITY_POLICY),
        ("X-Frame-Options", "DENY"),
        ("X-Content-Type-Options", "nosniff"),
        # same-origin, not no-referrer: see idp/csrf.py (Origin: null breaks the form check).
        ("Referrer-Policy", REFERRER_POLICY),
    ]
    if https:
        headers.append(("Strict-Transport-Security", "max-age=63072000; includeSubDomains"))
    return headers


def init_app(app: Flask) -> None:
    defaults = security_headers(app.config["IDP"].https)

    @app.after_request
    def add_security_headers(response: Response) -> Response:
        headers = response.headers
        for name, value in defaults:
            headers.setdefault(name, value)
        return response
