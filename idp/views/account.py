"""Hosted self-service pages: register, verify email, forgot/reset password, account."""

from __future__ import annotations

from flask import Blueprint, current_app, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from ua_parser import parse as parse_user_agent

from ..services import accounts, clients, consents, federation, signin, users
from . import context
from .errors import error_page

bp = Blueprint("account", __name__)

SENT_A_LINK = _l(
    "If an account exists for that address, we sent it a link. "
    "Check your inbox (and spam folder); the link works once."
)
CHECK_YOUR_EMAIL = _l("Check your email")


def _page(template: str, status: int = 200, **values):
    return render_template(template, **values), status, {"Cache-Control": "no-store"}


def _message(title: str, message: str, status: int = 200):
    return _page("auth/message.html", status, title=title, message=message)


@bp.route("/register", methods=["GET", "POST"])
def register():
    if not current_app.config["IDP"].registration_enabled:
        return error_page(_("Self-service registration is switched off here."), 404)
    if request.method == "GET":
        return _page("auth/register.html", email="", name="")
    email = request.form.get("email", "")[:320].strip()
    name = request.form.get("name", "")[:200].strip()
    password = request.form.get("password", "")
    try:
        accounts.register(email, password, name)
    except users.AccountError as exc:
        return _page("auth/register.html", 400, email=email, name=name, error=str(exc))
    return _message(CHECK_YOUR_EMAIL, SENT_A_LINK)


@bp.route("/verify-email", methods=["GET", "POST"])
def verify_email():
    """GET shows a button, POST confirms: link scanners that fetch the URL change nothing."""
    token = request.values.get("token", "")
    if request.method == "GET":
        return _page("auth/verify_email.html", token=token)
    if accounts.verify_email(token) is None:
        return _message(
            _("This link does not work"),
            _(
                "The link was already used or has expired. Sign in and ask for a new "
                "one, or request it again below."
            ),
            400,
        )
    return _message(_("Email address confirmed"), _("Thank you. You can close this page."))


@bp.post("/verify-email/resend")
def resend_verification():
    accounts.resend_verification(request.form.get("email", "")[:320])
    return _message(CHECK_YOUR_EMAIL, SENT_A_LINK)


@bp.route("/password/forgot", methods=["GET", "POST"])
def forgot_password():
    if request.method == "GET":
        return _page("auth/forgot_password.html")
    accounts.request_password_reset(request.form.get("email", "")[:320])
    return _message(CHECK_YOUR_EMAIL, SENT_A_LINK)


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
            _("This link does not work"),
            _("The link was already used or has expired. Ask for a new one."),
            400,
        )
    return _message(
        _("Password changed"),
        _(
            "Your password was changed and every device was signed out. "
            "Sign in again with the new password."
        ),
    )


@bp.get("/account")
@context.signed_in
def account():
    user = g.user
    current = context.current_session()
    sessions = [
        {
            "id": str(s.id),
            "device": describe_device(s.user_agent),
            "ip": s.ip,
            "signed_in": s.auth_time,
            "last_seen": s.last_seen_at,
            "current": s.id == current.id,
        }
        for s in signin.live_sessions(user.id)
    ]
    apps = []
    for consent in consents.list_for_user(user.id):
        client = clients.find_client(consent.client_id)
        if client is not None:
            apps.append(
                {
                    "client_id": client.client_id,
                    "name": client.client_name,
                    "scopes": consent.scope.split(),
                }
            )
    providers = {p.name: p for p in current_app.config["IDP"].providers}
    identities = [
        {
            "id": i.id,
            "email": i.email_seen,
            "display_name": providers[i.provider].display_name
            if i.provider in providers
            else i.provider,
        }
        for i in federation.identities_of(user.id)
    ]
    linked = {i.provider for i in federation.identities_of(user.id)}
    linkable = [p for name, p in providers.items() if name not in linked]
    return _page(
        "account/index.html",
        user=user,
        sessions=sessions,
        apps=apps,
        identities=identities,
        linkable=linkable,
    )


def describe_device(user_agent: str) -> str:
    """ "Firefox 128 on Windows" from a User-Agent header (ua-parser)."""
    if not user_agent:
        return _("Unknown device")
    parsed = parse_user_agent(user_agent)
    browser = parsed.user_agent.family if parsed.user_agent else _("Unknown browser")
    if parsed.user_agent and parsed.user_agent.major:
        browser += f" {parsed.user_agent.major}"
    system = parsed.os.family if parsed.os else None
    if system and system != "Other":
        return _("%(browser)s on %(system)s", browser=browser, system=system)
    return browser


@bp.post("/account/sessions/end")
@context.signed_in
def end_one_session():
    user = g.user
    target = signin.find_live_session(request.form.get("session_id"), user.id)
    current = context.current_session()
    if target is not None:
        signin.end_session(target, reason="ended_from_account_page")
    if target is not None and target.id == current.id:
        return _signed_out_response()
    return redirect(url_for("account.account"), 303)


@bp.post("/account/sessions/end-others")
@context.signed_in
def end_other_sessions():
    user = g.user
    signin.end_sessions(user.id, keep=context.current_session(), reason="sign_out_elsewhere")
    return redirect(url_for("account.account"), 303)


@bp.post("/account/sessions/end-all")
@context.signed_in
def end_all_sessions():
    user = g.user
    signin.end_sessions(user.id, reason="sign_out_everywhere")
    return _signed_out_response()


@bp.post("/account/apps/revoke")
@context.signed_in
def revoke_app():
    user = g.user
    consents.revoke(user.id, request.form.get("client_id", "")[:48])
    return redirect(url_for("account.account"), 303)


def _signed_out_response():
    response = redirect(url_for("auth.home"), 303)
    config = current_app.config["IDP"]
    response.delete_cookie(
        config.session_cookie_name, path="/", secure=config.https, httponly=True, samesite="Lax"
    )
    return response


@bp.route("/account/password", methods=["GET", "POST"])
@context.signed_in
def change_password():
    user = g.user
    if request.method == "GET":
        return _page("account/password.html")
    try:
        accounts.change_password(
            user,
            request.form.get("current_password", ""),
            request.form.get("password", ""),
            keep=context.current_session(),
        )
    except users.AccountError as exc:
        return _page("account/password.html", 400, error=str(exc))
    return redirect(url_for("account.account", changed="password"), 303)
