"""Hosted sign-in and sign-out pages."""

from __future__ import annotations

import logging

from flask import Blueprint, current_app, redirect, render_template, request, url_for

from ..services import interaction, signin, users
from . import context
from .errors import error_page

bp = Blueprint("auth", __name__)
log = logging.getLogger("idp.security")
SIGN_IN_FAILED = "Incorrect email or password."


def _pending_interaction():
    """Return (interaction, problem page); both None when the page was opened directly."""
    ix_id = request.values.get("ix")
    if not ix_id:
        return None, None
    ix = interaction.load(ix_id) if context.owns_interaction(ix_id) else None
    if ix is None:
        return None, error_page(
            "This sign-in request has expired. Go back to the application and start again.", 400
        )
    return ix, None


@bp.route("/login", methods=["GET", "POST"])
def login():
    ix, problem = _pending_interaction()
    if problem:
        return problem
    hint = ix.params.get("login_hint", "") if ix else ""
    email = request.form.get("email", hint)[:320]
    if request.method == "GET":
        return _login_page(ix, email)

    user = users.authenticate(email, request.form.get("password", ""))
    if user is None:
        signin.record_failed_sign_in(email)
        return _login_page(ix, email, error=SIGN_IN_FAILED, status=401)

    previous = context.current_session()
    if previous is not None:
        signin.end_session(previous)
    browser_session, token = signin.start_session(
        user, ["pwd"], context.client_ip(), request.user_agent.string or ""
    )
    if ix is not None:
        ix.signed_in_session = str(browser_session.id)
        interaction.save(ix)
        target = url_for("oauth.resume_authorization", ix=ix.id)
    else:
        target = url_for("auth.home")
    response = redirect(target, 303)
    _set_session_cookie(response, token)
    return response


def _login_page(ix, email: str, error: str | None = None, status: int = 200):
    body = render_template("auth/login.html", ix=ix, email=email, error=error)
    return body, status, {"Cache-Control": "no-store"}


def _set_session_cookie(response, token: str) -> None:
    config = current_app.config["IDP"]
    response.set_cookie(
        config.session_cookie_name,
        token,
        max_age=config.session_absolute_ttl,
        path="/",
        secure=config.https,
        httponly=True,
        samesite="Lax",
    )


@bp.get("/")
def home():
    user = context.current_user()
    return render_template("auth/home.html", user=user), 200, {"Cache-Control": "no-store"}


@bp.post("/logout")
def logout():
    browser_session = context.current_session()
    if browser_session is not None:
        signin.end_session(browser_session)
    response = redirect(url_for("auth.home"), 303)
    config = current_app.config["IDP"]
    response.delete_cookie(
        config.session_cookie_name, path="/", secure=config.https, httponly=True, samesite="Lax"
    )
    return response
