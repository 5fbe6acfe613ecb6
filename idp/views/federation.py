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
from flask_babel import gettext as _

from ..oauth import upstream
from ..services import federation, interaction, signin_flow, users
from ..services.signin_flow import State
from . import context
from .errors import error_page
from .outcomes import signed_in_or_second_step

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
        return error_page(_("This sign-in request has expired. Go back to the application."), 400)
    signin_flow.start_upstream(session, ix_id)
    return _redirect_upstream(provider)


@bp.post("/account/identities/link")
@context.signed_in
def start_link():
    """Link another provider to the signed-in account (CSRF-protected form)."""
    provider = _provider_or_404(request.form.get("provider", ""))
    signin_flow.start_upstream_link(session, g.user)
    return _redirect_upstream(provider)


def _redirect_upstream(provider):
    try:
        return upstream.client_for(provider).authorize_redirect(_callback_url(provider.name))
    except (requests.RequestException, OAuthError, ValueError):
        log.exception("upstream %s unreachable", provider.name)
        return error_page(
            _(
                "%(provider)s cannot be reached right now. "
                "Try again later or sign in another way.",
                provider=provider.display_name,
            ),
            502,
        )


@bp.get("/login/with/<name>/callback")
def callback(name: str):
    provider = _provider_or_404(name)
    pending = signin_flow.take_upstream(session)
    ix = interaction.load(pending.get("ix")) if pending.get("ix") else None
    try:
        token = upstream.exchange_code(provider)
        profile = upstream.profile_from(provider, token)
    except upstream.REFUSALS as exc:
        if isinstance(exc, OAuthError) and exc.error == "access_denied" and ix is not None:
            log.info("upstream sign-in declined", extra={"provider": name})
            signin_flow.decline(ix)
            return redirect(url_for("oauth.resume_authorization", ix=ix.id), 303)
        return _refused(provider, upstream.refusal_reason(exc), getattr(exc, "hint", ""))
    except requests.RequestException:
        log.exception("upstream %s unreachable", name)
        return error_page(f"{provider.display_name} cannot be reached right now.", 502)

    browser = context.browser()
    if pending.get("link"):
        return _linked(
            signin_flow.link_upstream_to_signed_in(browser, provider, profile, pending.get("user"))
        )
    outcome = signin_flow.sign_in_upstream(browser, provider, profile, ix)
    if outcome.state is State.LINK_PENDING:
        body = render_template(
            "auth/link_account.html",
            provider=provider,
            email=profile.email,
            ix=ix,
            providers=(),
            registration=False,
            next="",
            error=None,
            linking=outcome.link,
        )
        return body, 200, {"Cache-Control": "no-store"}
    if outcome.state is State.REFUSED:
        return _refused(provider, outcome.reason, outcome.reason)
    return signed_in_or_second_step(outcome)


def _refused(provider, reason: str, hint: str = ""):
    """The one page for a refused upstream sign-in, logged and audited with its reason."""
    log.warning("upstream sign-in refused", extra={"provider": provider.name, "reason": reason})
    federation.record_failure(provider.name, reason)
    message = _(
        "Signing in with %(provider)s did not work; try again or use another way.",
        provider=provider.display_name,
    )
    return error_page(f"{message} {hint}".strip(), 400)


def _linked(outcome):
    """Render linking to the signed-in account: done, refused, or sign in first."""
    if outcome.state is State.NOT_STARTED:
        return redirect(url_for("auth.login", next="account"), 303)
    if outcome.state is State.REFUSED:
        return error_page(outcome.reason, 400)
    return redirect(url_for("account.account", linked=outcome.linked), 303)


@bp.post("/account/identities/unlink")
@context.signed_in
def unlink():
    user = g.user
    try:
        federation.unlink(user, int(request.form.get("identity_id", "0") or 0))
    except (users.AccountError, ValueError) as exc:
        return error_page(
            str(exc) if isinstance(exc, users.AccountError) else _("Unknown linked account."), 400
        )
    return redirect(url_for("account.account"), 303)
