"""RP-Initiated Logout: /session/end, with a confirmation page when there is no valid hint."""

from __future__ import annotations

from authlib.oauth2.rfc6749 import OAuth2Error
from flask import Blueprint, current_app, g, make_response, render_template, request
from flask_babel import gettext as _

from ..extensions import csrf
from ..oauth.endpoints import LOGOUT_CONFIRMED
from . import context
from .errors import error_page

bp = Blueprint("logout", __name__)
PASSED_ON = (
    "id_token_hint",
    "client_id",
    "post_logout_redirect_uri",
    "state",
    "ui_locales",
    "logout_hint",
)


def _server():
    return current_app.extensions["idp.oauth"]


@bp.route("/session/end", methods=["GET", "POST"])
@csrf.exempt  # relying parties may POST here; nothing changes without a hint or a confirmation
def end_session():
    try:
        end_request = _server().validate_endpoint_request("end_session")
    except OAuth2Error as error:
        return error_page(
            error.get_error_description() or _("The logout request is not valid."),
            400,
            error_code=error.error,
        )
    if needs_confirmation(end_request):
        fields = {name: request.values[name] for name in PASSED_ON if request.values.get(name)}
        client = end_request.client
        body = render_template(
            "auth/logout_confirm.html",
            fields=fields,
            client_name=client.client_name if client else None,
        )
        return body, 200, {"Cache-Control": "no-store"}
    return _finish(end_request)


def needs_confirmation(end_request) -> bool:
    """Ask first without a valid hint (§6), and when the hint names another user than the
    one signed in here: a link carrying someone's ID token must not sign this user out."""
    if end_request.needs_confirmation:
        return True
    user = context.current_user()
    return user is not None and str(user.id) != end_request.id_token_claims.get("sub")


@bp.post("/session/end/confirm")
def confirm_end_session():
    """The user's answer on the confirmation page (CSRF-protected)."""
    if request.form.get("decision") != "logout":
        return render_template(
            "auth/message.html",
            title=_("You are still signed in"),
            message=_("Nothing was changed."),
        ), 200
    setattr(g, LOGOUT_CONFIRMED, True)  # the user confirmed: a registered URI may be followed
    try:
        end_request = _server().validate_endpoint_request("end_session")
    except OAuth2Error as error:
        return error_page(
            error.get_error_description() or _("The logout request is not valid."),
            400,
            error_code=error.error,
        )
    return _finish(end_request)


def _finish(end_request):
    context.current_session()  # looked up before it ends, for the endpoint's end_session
    response = _server().create_endpoint_response("end_session", end_request)
    config = current_app.config["IDP"]
    if response is None:
        response = make_response(
            render_template(
                "auth/message.html",
                title=_("You are signed out"),
                message=_(
                    "You are signed out of %(brand)s and of the apps that use it.",
                    brand=config.brand_name,
                ),
            )
        )
    response.delete_cookie(
        config.session_cookie_name, path="/", secure=config.https, httponly=True, samesite="Lax"
    )
    response.headers["Cache-Control"] = "no-store"
    return response
