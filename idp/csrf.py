"""CSRF: Flask-WTF's token, plus a same-origin check that works with our referrer policy.

Flask-WTF's own https check demands a `Referer`, which a strict referrer policy suppresses,
so every form post over https failed. We switch it off and check where the post came from:

1. `Sec-Fetch-Site`, when the browser sends it, must be `same-origin`.
2. Else `Origin`, when sent, must be idp's origin: the one in IDP_ISSUER, or the scheme and
   host the request arrived on (as the trusted proxy reports them with IDP_PROXY_HOPS).
   `Origin: null` (sandboxed or privacy-stripped posts) is refused.
3. Else `Referer`, when sent, must start with one of those origins.
4. Else (no browser sends none of them on a POST; scripts and tests do) the token decides.

The referrer policy (views/security.py) is `same-origin`, so browsers send a real `Origin`
and `Referer` to idp itself and nothing, not even the origin, to other sites: codes and
tokens in URLs never leave in a `Referer`. Under `no-referrer` browsers send `Origin: null`
on every form post (Fetch, "serializing a request origin"), which would fail rule 2.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import current_app, g, request
from flask_wtf import CSRFProtect

REFERRER_POLICY = "same-origin"


def _origin(url: str) -> str | None:
    """scheme://host[:port] of `url`, lower-cased, default ports dropped; None if not a URL."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    default = {"http": 80, "https": 443}[parts.scheme]
    host = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
    suffix = f":{port}" if port is not None and port != default else ""
    return f"{parts.scheme}://{host.lower()}{suffix}"


def expected_origins() -> set[str]:
    """The origins idp's own pages are served from."""
    origins = {_origin(current_app.config["IDP"].issuer), _origin(request.host_url)}
    return {o for o in origins if o}


def same_origin_failure() -> str | None:
    """Say why this request did not come from idp's own pages, or None when it did."""
    fetch_site = request.headers.get("Sec-Fetch-Site")
    if fetch_site:
        return None if fetch_site == "same-origin" else f"Sec-Fetch-Site is {fetch_site}"
    origin = request.headers.get("Origin")
    if origin:
        return None if _origin(origin) in expected_origins() else "the Origin is another site"
    referrer = request.headers.get("Referer")
    if referrer:
        ok = _origin(referrer) in expected_origins()
        return None if ok else "the Referer is another site"
    return None


class SameOriginCSRF(CSRFProtect):
    """CSRFProtect whose https check reads Origin/Sec-Fetch-Site instead of Referer."""

    def init_app(self, app) -> None:
        app.config["WTF_CSRF_SSL_STRICT"] = False  # replaced by the check below
        super().init_app(app)

    def protect(self, apply_exemptions: bool = False) -> None:
        super().protect(apply_exemptions)
        if g.get("csrf_valid"):  # the token was checked: this is a protected form post
            reason = same_origin_failure()
            if reason:
                g.csrf_valid = False
                self._error_response(f"Cross-site form post refused: {reason}.")
