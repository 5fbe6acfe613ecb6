"""Authorization responses: every one carries `iss` (RFC 9207), by query or form_post."""

from __future__ import annotations

from authlib.common.urls import add_params_to_uri
from flask import current_app, render_template

RESPONSE_MODES = ("query", "form_post")


def authorization_response(
    redirect_uri: str, params: list[tuple[str, str]], response_mode: str | None
) -> tuple[int, str, list[tuple[str, str]]]:
    """Build the (status, body, headers) that returns `params` to the client."""
    params = [*params, ("iss", current_app.config["IDP"].issuer)]
    if response_mode == "form_post":
        body = render_template("oauth/form_post.html", action=redirect_uri, params=params)
        return (
            200,
            body,
            [("Content-Type", "text/html; charset=utf-8"), ("Cache-Control", "no-store")],
        )
    return (
        302,
        "",
        [("Location", add_params_to_uri(redirect_uri, params)), ("Cache-Control", "no-store")],
    )
