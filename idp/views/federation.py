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

from ..oauth import upstream
from ..services import federation, interaction, users
from . import context
from .auth import hold_pending_link, second_step_or_sign_in
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
    session["federation"] = {"ix": None, "link": True, "user": str(g.user.id)}
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
        token = upstream.exchange_code(provider)
        profile = upstream.profile_from(provider, token)
    except upstream.REFUSALS as exc:
        if isinstance(exc, OAuthError) and exc.error == "access_denied" and ix is not None:
            log.info("upstream sign-in declined", extra={"provider": name})
            ix.extra["denied"] = True
            interaction.save(ix)
            return redirect(url_for("oauth.resume_authorization", ix=ix.id), 303)
        return _refused(provider, upstream.refusal_reason(exc), getattr(exc, "hint", ""))
    except requests.RequestException:
        log.exception("upstream %s unreachable", name)
        return error_page(f"{provider.display_name} cannot be reached right now.", 502)

    if pending.get("link"):
        return _link_to_signed_in_user(provider, profile, pending.get("user"))
    try:
        user = federation.sign_in(provider.name, profile)
    except federation.LinkNeeded as exc:
        linking = hold_pending_link(provider, profile, exc.account_id)
        body = render_template(
            "auth/link_account.html",
            provider=provider,
            email=profile.email,
            ix=ix,
            providers=(),
            registration=False,
            next="",
            error=None,
            linking=linking,
        )
        return body, 200, {"Cache-Control": "no-store"}
    except users.AccountError as exc:
        return _refused(provider, str(exc), str(exc))
    return second_step_or_sign_in(user, ["fed"], ix, upstream=provider.name)


def _refused(provider, reason: str, hint: str = ""):
    """The one page for a refused upstream sign-in, logged and audited with its reason."""
    log.warning("upstream sign-in refused", extra={"provider": provider.name, "reason": reason})
    federation.record_failure(provider.name, reason)
    message = f"Signing in with {provider.display_name} did not work; try again or use another way."
    return error_page(f"{message} {hint}".strip(), 400)


def _link_to_signed_in_user(provider, profile, started_by: str | None):
    """Link to the account that asked for it, if that account is still the one signed in."""
    user = context.current_user()
    if user is None or str(user.id) != started_by:
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
