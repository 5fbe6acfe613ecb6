"""Hosted sign-in and sign-out pages.

The sign-in itself (password, second step, linking, step-up) is services/signin_flow.py;
these views parse the form and render the state it reaches.
"""

from __future__ import annotations

from flask import (
    Blueprint,
    current_app,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext

from ..services import signin_flow
from ..services.signin_flow import State
from . import context, devices
from .outcomes import pending_interaction, signed_in_or_second_step

bp = Blueprint("auth", __name__)
SIGN_IN_FAILED = _l("Incorrect email or password.")


@bp.route("/login", methods=["GET", "POST"])
def login():
    ix, problem = pending_interaction()
    if problem:
        return problem
    hint = ix.params.get("login_hint", "") if ix else ""
    email = request.form.get("email", hint)[:320]
    if request.method == "GET":
        return _login_page(ix, email)
    outcome = signin_flow.sign_in_with_password(
        context.browser(),
        email,
        request.form.get("password", ""),
        devices.known_device(email),
        ix,
        request.values.get("next"),
        request.values.get("link", ""),
    )
    if outcome.state is State.THROTTLED:
        message = ngettext(
            "Too many failed attempts. Try again in %(num)s second.",
            "Too many failed attempts. Try again in %(num)s seconds.",
            outcome.retry_after,
        )
        return _login_page(ix, email, error=message, status=429, retry_after=outcome.retry_after)
    if outcome.state is State.FAILED:
        return _login_page(ix, email, error=SIGN_IN_FAILED, status=401)
    if outcome.state is State.VERIFY_EMAIL:
        body = render_template("auth/verify_first.html", email=outcome.user.email)
        return body, 403, {"Cache-Control": "no-store"}
    return signed_in_or_second_step(outcome)


def _login_page(
    ix, email: str, error: str | None = None, status: int = 200, retry_after: int | None = None
):
    config = current_app.config["IDP"]
    body = render_template(
        "auth/login.html",
        ix=ix,
        email=email,
        error=error,
        registration=config.registration_enabled,
        next=request.values.get("next", ""),
        providers=config.providers,
        linking=signin_flow.pending_link(session, request.values.get("link", "")),
    )
    headers = {"Cache-Control": "no-store"}
    if retry_after:
        headers["Retry-After"] = str(retry_after)
    return body, status, headers


@bp.get("/")
def home():
    user = context.current_user()
    return render_template("auth/home.html", user=user), 200, {"Cache-Control": "no-store"}


@bp.post("/logout")
def logout():
    signin_flow.sign_out(context.browser())
    response = redirect(url_for("auth.home"), 303)
    config = current_app.config["IDP"]
    response.delete_cookie(
        config.session_cookie_name, path="/", secure=config.https, httponly=True, samesite="Lax"
    )
    return response
