"""Protocol endpoints: /authorize, /token, /userinfo. They never render forms."""

from __future__ import annotations

import logging
from collections.abc import Mapping

from authlib.common.urls import add_params_to_uri
from authlib.oauth2.rfc6749 import AccessDeniedError, OAuth2Error
from flask import Blueprint, abort, current_app, redirect, render_template, request, url_for
from flask_babel import gettext as _

from ..extensions import csrf
from ..oauth.responses import AuthorizationResponse, authorization_response
from ..oauth.validators import read_id_token_hint, refuse_request_objects
from ..services import interaction
from ..services.interaction import Interaction
from . import context
from .errors import error_page

bp = Blueprint("oauth", __name__)
log = logging.getLogger("idp.security")


def _server():
    return current_app.extensions["idp.oauth"]


@bp.route("/authorize", methods=["GET", "POST"])
@csrf.exempt
def authorize():
    return _authorize(params=None, ix=None)


@bp.get("/authorize/continue")
def resume_authorization():
    """Pick up a parked request after the user signed in or answered the consent page."""
    ix_id = request.args.get("ix")
    ix = interaction.load(ix_id) if context.owns_interaction(ix_id) else None
    if ix is None:
        return error_page(
            _(
                "This sign-in request has expired or was already completed. "
                "Go back to the application and start again."
            ),
            400,
        )
    return _authorize(params=ix.params, ix=ix)


def _authorize(params: Mapping[str, str] | None, ix: Interaction | None):
    server = _server()
    browser_session = context.current_session()
    user = context.current_user()
    try:
        grant = server.get_consent_grant(request=params, end_user=user)
    except OAuth2Error as error:
        return _error_response(error, params if params is not None else request.values)
    except ValueError:
        # Authlib refuses to build an error whose description would quote a `"` or `\`
        # from the request (RFC 6749 §4.1.2.1 charset): the request is malformed.
        return _malformed_request()
    data = grant.request.payload.data
    try:
        refuse_request_objects(data)  # the client and redirect URI are validated by now
        if ix is not None and ix.extra.get("denied"):
            interaction.finish(ix)
            raise AccessDeniedError(redirect_uri=grant.redirect_uri)
        hint = data.get("id_token_hint")
        hinted_subject = read_id_token_hint(hint).get("sub") if hint else None
        step = interaction.required_step(
            data, grant.request.client, grant.request.scope, browser_session, ix, hinted_subject
        )
        if step is not None:
            if "none" in (data.get("prompt") or "").split():
                raise step.prompt_none_error(redirect_uri=grant.redirect_uri)
            if ix is None:
                ix = interaction.park(data.to_dict() if hasattr(data, "to_dict") else data)
            ix.extra["scope"] = grant.request.scope
            interaction.save(ix)
            context.bind_interaction(ix.id)
            return redirect(url_for(_page_for(step, user), ix=ix.id), 303)
        grant.request.browser_session = browser_session
        answer = grant.create_authorization_response(grant.redirect_uri, user)
    except OAuth2Error as error:
        if error.redirect_uri is None:
            error.redirect_uri = grant.redirect_uri
        return _error_response(error, data)
    except ValueError:  # as above, from a later check (scope, prompt, PKCE method)
        return _malformed_request()
    if ix is not None:
        interaction.finish(ix)
    return _send(answer)


def _send(answer: AuthorizationResponse):
    """The authorization response: a redirect with the parameters in the query, or the
    form_post page that posts them."""
    if answer.response_mode == "form_post":
        body = render_template(
            "oauth/form_post.html", action=answer.redirect_uri, params=answer.params
        )
        headers = [("Content-Type", "text/html; charset=utf-8"), ("Cache-Control", "no-store")]
        return _server().handle_response(200, body, headers)
    location = add_params_to_uri(answer.redirect_uri, answer.params)
    return _server().handle_response(
        302, "", [("Location", location), ("Cache-Control", "no-store")]
    )


def _malformed_request():
    return error_page(
        _(
            "The application sent a malformed sign-in request (characters that are not "
            "allowed). Go back to the application and try again."
        ),
        400,
        error_code="invalid_request",
    )


def _page_for(step, user) -> str:
    if step.page == "mfa":
        return "mfa.verify" if user.mfa_enabled else "mfa.settings"
    return "auth.login" if step.page == "login" else "consent.consent"


def _page_message(error: OAuth2Error, params: Mapping[str, str]) -> str:
    """What the person reads when the error cannot go back to the app."""
    if not params:
        return _(
            "Applications send you to this address to sign in; opened on its own it has "
            "nothing to do. Start from the application you want to use."
        )
    if error.error == "unsupported_response_type":
        # Authlib's own description repeats itself ("response_type=The response type …").
        return _(
            "The application sent a sign-in request idp cannot answer (its response_type is "
            "missing or not supported). Go back to the application and try again."
        )
    return error.get_error_description() or error.error


def _error_response(error: OAuth2Error, params: Mapping[str, str]):
    """Send the error to the client once its redirect URI is validated, else show a page."""
    if not error.redirect_uri:
        return error_page(_page_message(error, params), 400, error_code=error.error)
    error.state = params.get("state")
    return _send(
        authorization_response(error.redirect_uri, error.get_body(), params.get("response_mode"))
    )


@bp.post("/token")
@csrf.exempt
def issue_token():
    return _server().create_token_response()


@bp.route("/userinfo", methods=["GET", "POST"])
@csrf.exempt
def userinfo():
    return _server().create_endpoint_response("userinfo")


@bp.post("/connect/register")
@csrf.exempt
def register_client():
    """RFC 7591 dynamic registration (when switched on)."""
    if not current_app.config["IDP"].dynamic_registration:
        abort(404)
    return _server().create_endpoint_response("client_registration")


@bp.route("/connect/register/<client_id>", methods=["GET", "PUT", "DELETE"])
@csrf.exempt
def manage_registration(client_id: str):
    """RFC 7592: read, update or delete with the registration access token."""
    if not current_app.config["IDP"].dynamic_registration:
        abort(404)
    return _server().create_endpoint_response("client_configuration")


@bp.post("/revoke")
@csrf.exempt
def revoke_token():
    return _server().create_endpoint_response("revocation")


@bp.post("/introspect")
@csrf.exempt
def introspect_token():
    return _server().create_endpoint_response("introspection")
