"""Hosted self-service pages: register, verify email, forgot/reset password, account."""

from __future__ import annotations

from flask import Blueprint, current_app, redirect, render_template, request, url_for

from ..services import accounts, users
from . import context
from .errors import error_page

bp = Blueprint("account", __name__)

SENT_A_LINK = (
    "If an account exists for that address, we sent it a link. "
    "Check your inbox (and spam folder); the link works once."
)


def _page(template: str, status: int = 200, **values):
    return render_template(template, **values), status, {"Cache-Control": "no-store"}


def _message(title: str, message: str, status: int = 200):
    return _page("auth/message.html", status, title=title, message=message)


@bp.route("/register", methods=["GET", "POST"])
def register():
    if not current_app.config["IDP"].registration_enabled:
        return error_page("Self-service registration is switched off here.", 404)
    if request.method == "GET":
        return _page("auth/register.html", email="", name="")
    email = request.form.get("email", "")[:320].strip()
    name = request.form.get("name", "")[:200].strip()
    password = request.form.get("password", "")
    try:
        accounts.register(email, password, name)
    except users.AccountError as exc:
        return _page("auth/register.html", 400, email=email, name=name, error=str(exc))
    return _message("Check your email", SENT_A_LINK)


@bp.route("/verify-email", methods=["GET", "POST"])
def verify_email():
    """GET shows a button, POST confirms: link scanners that fetch the URL change nothing."""
    token = request.values.get("token", "")
    if request.method == "GET":
        return _page("auth/verify_email.html", token=token)
    if accounts.verify_email(token) is None:
        return _message(
            "This link does not work",
            "The link was already used or has expired. Sign in and ask for a new "
            "one, or request it again below.",
            400,
        )
    return _message("Email address confirmed", "Thank you. You can close this page.")


@bp.post("/verify-email/resend")
def resend_verification():
    accounts.resend_verification(request.form.get("email", "")[:320])
    return _message("Check your email", SENT_A_LINK)


@bp.route("/password/forgot", methods=["GET", "POST"])
def forgot_password():
    if request.method == "GET":
        return _page("auth/forgot_password.html")
    accounts.request_password_reset(request.form.get("email", "")[:320])
    return _message("Check your email", SENT_A_LINK)


@bp.route("/password/reset", methods=["GET", "POST"])
def reset_password():
    token = request.values.get("token", "")
    if request.method == "GET":
        return _page("auth/reset_password.html", token=token)
    try:
        user = accounts.reset_password(token, request.form.get("password", ""))
    except users.AccountError as exc:
        return _page("auth/reset_password.html", 400, token=token, error=str(exc))
    if user is None:
        return _message(
            "This link does not work",
            "The link was already used or has expired. Ask for a new one.",
            400,
        )
    return _message(
        "Password changed",
        "Your password was changed and every device was signed out. "
        "Sign in again with the new password.",
    )


@bp.get("/account")
def account():
    user = context.current_user()
    if user is None:
        return redirect(url_for("auth.login", next="account"), 303)
    return _page("account/index.html", user=user)


@bp.route("/account/password", methods=["GET", "POST"])
def change_password():
    user = context.current_user()
    if user is None:
        return redirect(url_for("auth.login", next="account"), 303)
    if request.method == "GET":
        return _page("account/password.html")
    try:
        accounts.change_password(
            user, request.form.get("current_password", ""), request.form.get("password", "")
        )
    except users.AccountError as exc:
        return _page("account/password.html", 400, error=str(exc))
    return redirect(url_for("account.account", changed="password"), 303)
