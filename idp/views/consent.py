"""The hosted consent page: the client's name, the scopes in plain words, allow or deny."""

from __future__ import annotations

from authlib.oauth2.rfc6749 import scope_to_list
from flask import Blueprint, redirect, render_template, request, url_for
from flask_babel import gettext as _

from ..schemas import scopes
from ..services import clients, consents, interaction
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
    body = render_template("consent/consent.html", ix=ix, client=client, scopes=texts)
    return body, 200, {"Cache-Control": "no-store"}
