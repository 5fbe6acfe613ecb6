"""Authorization responses: every one carries `iss` (RFC 9207), by query or form_post.

The grant decides what goes back to the client; views/oauth.py sends it (a redirect, or the
form_post page it renders): oauth/ renders nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app

RESPONSE_MODES = ("query", "form_post")


@dataclass(frozen=True)
class AuthorizationResponse:
    """`params` (with `iss`) for `redirect_uri`, by `response_mode` (None: query)."""

    redirect_uri: str
    params: list[tuple[str, str]]
    response_mode: str | None = None


def authorization_response(
    redirect_uri: str, params: list[tuple[str, str]], response_mode: str | None
) -> AuthorizationResponse:
    """What returns `params` to the client, with this issuer's `iss` added."""
    params = [*params, ("iss", current_app.config["IDP"].issuer)]
    return AuthorizationResponse(redirect_uri, params, response_mode)
