"""The hosted consent page: the client's name, the scopes in plain words, allow or deny."""

from __future__ import annotations

from authlib.oauth2.rfc6749 import scope_to_list
from flask import Blueprint, current_app, redirect, render_template, request, url_for
from flask_babel import gettext as _

from ..schemas import scopes
from ..services import clients, consents, interaction, signin
from . import context
from .errors import error_page

bp = Blueprint("consent", __name__)


def _consent_text(name: str) -> str:
    """The registry's plain words for a scope, in the page's language."""
    if name in scopes.BY_NAME:
        return _(scopes.consent_text(name))
    return _("Use the “%(scope)s” permission", scope=name)


@bp.route("/consent", methods=["GET", "POST"])
def consent():
    ix_id = request.values.get("ix")
    ix = interaction.load(ix_id) if context.owns_interaction(ix_id) else None
    browser_session = context.current_session()
    client = clients.find_client(ix.params.get("client_id")) if ix else None
    if ix is None or browser_session is None or client is None:
        return error_page(
            _("This consent request has expired. Go back to the application and start again."),
            400,
        )
    scope = ix.extra.get("scope", "")
    if request.method == "POST":
        if request.form.get("decision") == "allow":
            consents.grant(browser_session.user_id, client.client_id, scope)
            ix.consent_given = True
        else:
            ix.extra["denied"] = True
        interaction.save(ix)
        return redirect(url_for("oauth.resume_authorization", ix=ix.id), 303)
    texts = [_consent_text(name) for name in scope_to_list(scope) or []]
    body = render_template(
        "consent/consent.html", ix=ix, client=client, scopes=texts, user=context.current_user()
    )
    return body, 200, {"Cache-Control": "no-store"}


@bp.post("/authorize/cancel")
def cancel():
    """Cancel on the sign-in page: the app gets access_denied (RFC 6749 §4.1.2.1), as when
    consent is denied; an unknown or foreign request gets the expired page."""
    ix_id = request.form.get("ix")
    ix = interaction.load(ix_id) if context.owns_interaction(ix_id) else None
    if ix is None:
        return error_page(
            _(
                "This sign-in request has expired or was already completed. "
                "Go back to the application and start again."
            ),
            400,
        )
    ix.extra["denied"] = True
    interaction.save(ix)
    return redirect(url_for("oauth.resume_authorization", ix=ix.id), 303)


@bp.post("/consent/switch-account")
def switch_account():
    """"Not you?": end this browser's session, then sign in again for the same request."""
    ix_id = request.form.get("ix")
    if not context.owns_interaction(ix_id) or interaction.load(ix_id) is None:
        return error_page(
            _("This consent request has expired. Go back to the application and start again."),
            400,
        )
    browser_session = context.current_session()
    if browser_session is not None:
        signin.end_session(browser_session)
    response = redirect(url_for("auth.login", ix=ix_id), 303)
    config = current_app.config["IDP"]
    response.delete_cookie(
        config.session_cookie_name, path="/", secure=config.https, httponly=True, samesite="Lax"
    )
    return response
