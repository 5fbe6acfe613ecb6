"""Sign in (or link an account) through an upstream provider, then continue as usual."""

from __future__ import annotations

import logging

import requests
from authlib.integrations.base_client import OAuthError
from flask import (
    Blueprint,
    abort,
    current_app,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)

from .. import clock
from ..oauth import upstream
from ..services import federation, interaction, users
from . import context
from .auth import second_step_or_sign_in
from .errors import error_page

bp = Blueprint("federation", __name__)
log = logging.getLogger("idp.security")


def _callback_url(name: str) -> str:
    return f"{current_app.config['IDP'].issuer}/login/with/{name}/callback"


def _provider_or_404(name: str):
    provider = upstream.find_provider(name)
    if provider is None:
        abort(404)
    return provider


@bp.get("/login/with/<name>")
def start(name: str):
    """Send the browser to the upstream, remembering the pending authorization request."""
    provider = _provider_or_404(name)
    ix_id = request.args.get("ix")
    if ix_id and not context.owns_interaction(ix_id):
        return error_page("This sign-in request has expired. Go back to the application.", 400)
    session["federation"] = {"ix": ix_id, "link": False}
    return _redirect_upstream(provider)


@bp.post("/account/identities/link")
@context.signed_in
def start_link():
    """Link another provider to the signed-in account (CSRF-protected form)."""
    provider = _provider_or_404(request.form.get("provider", ""))
    session["federation"] = {"ix": None, "link": True}
    return _redirect_upstream(provider)


def _redirect_upstream(provider):
    try:
        return upstream.client_for(provider).authorize_redirect(_callback_url(provider.name))
    except (requests.RequestException, OAuthError, ValueError):
        log.exception("upstream %s unreachable", provider.name)
        return error_page(
            f"{provider.display_name} cannot be reached right now. "
            "Try again later or sign in another way.",
            502,
        )


@bp.get("/login/with/<name>/callback")
def callback(name: str):
    provider = _provider_or_404(name)
    pending = session.pop("federation", None) or {}
    ix = interaction.load(pending.get("ix")) if pending.get("ix") else None
    try:
        token = upstream.client_for(provider).authorize_access_token()
        profile = upstream.profile_from(provider, token)
    except OAuthError as exc:
        log.info("upstream sign-in failed", extra={"provider": name, "error": exc.error})
        if exc.error == "access_denied" and ix is not None:
            ix.extra["denied"] = True
            interaction.save(ix)
            return redirect(url_for("oauth.resume_authorization", ix=ix.id), 303)
        return error_page(
            f"Signing in with {provider.display_name} did not work "
            f"({exc.error or 'unknown error'}). Try again, or sign in another way.",
            400,
        )
    except upstream.UpstreamError as exc:
        return error_page(str(exc), 400)
    except requests.RequestException:
        log.exception("upstream %s unreachable", name)
        return error_page(f"{provider.display_name} cannot be reached right now.", 502)

    if pending.get("link"):
        return _link_to_signed_in_user(provider, profile)
    try:
        user = federation.sign_in(provider.name, profile)
    except federation.LinkNeeded:
        session["federation_link"] = {
            "provider": provider.name,
            "issuer": profile.issuer,
            "subject": profile.subject,
            "email": profile.email,
            "display_name": provider.display_name,
            "at": clock.now(),
        }
        body = render_template(
            "auth/link_account.html",
            provider=provider,
            email=profile.email,
            ix=ix,
            providers=(),
            registration=False,
            next="",
            error=None,
            linking=session["federation_link"],
        )
        return body, 200, {"Cache-Control": "no-store"}
    except users.AccountError as exc:
        return error_page(str(exc), 400)
    return second_step_or_sign_in(user, ["fed"], ix, upstream=provider.name)


def _link_to_signed_in_user(provider, profile):
    user = context.current_user()
    if user is None:
        return redirect(url_for("auth.login", next="account"), 303)
    try:
        federation.link(user, provider.name, profile)
    except users.AccountError as exc:
        return error_page(str(exc), 400)
    return redirect(url_for("account.account", linked=provider.name), 303)


@bp.post("/account/identities/unlink")
@context.signed_in
def unlink():
    user = g.user
    try:
        federation.unlink(user, int(request.form.get("identity_id", "0") or 0))
    except (users.AccountError, ValueError) as exc:
        return error_page(
            str(exc) if isinstance(exc, users.AccountError) else "Unknown linked account.", 400
        )
    return redirect(url_for("account.account"), 303)
