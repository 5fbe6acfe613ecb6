"""Hosted sign-in and sign-out pages."""

from __future__ import annotations

import hmac
import secrets

from flask import (
    Blueprint,
    current_app,
    redirect,
    render_template,
    request,
    session,
    url_for,
)

from .. import clock
from ..models import User
from ..oauth.upstream import UpstreamProfile
from ..services import federation, interaction, signin, throttle, users
from ..services.interaction import Interaction
from . import context, devices
from .errors import error_page

bp = Blueprint("auth", __name__)
SIGN_IN_FAILED = "Incorrect email or password."
PENDING_MFA_SECONDS = 5 * 60
PENDING_LINK_SECONDS = 10 * 60
NEXT_PAGES = {
    "account": "account.account",
    "admin": "admin_console.dashboard",
}  # an allowlist: never redirect to user input


def pending_interaction():
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
    ix, problem = pending_interaction()
    if problem:
        return problem
    hint = ix.params.get("login_hint", "") if ix else ""
    email = request.form.get("email", hint)[:320]
    if request.method == "GET":
        return _login_page(ix, email)

    device = devices.known_device(email)
    wait = throttle.retry_after(email, device)
    if wait:
        message = f"Too many failed attempts. Try again in {wait} seconds."
        return _login_page(ix, email, error=message, status=429, retry_after=wait)
    user = users.authenticate(email, request.form.get("password", ""))
    if user is None:
        throttle.record_failure(email, device)
        signin.record_failed_sign_in(email)
        return _login_page(ix, email, error=SIGN_IN_FAILED, status=401)
    throttle.reset(email, device)
    link = _take_pending_link()  # this sign-in completes the pending link or ends it
    if current_app.config["IDP"].require_verified_email and not user.email_verified:
        body = render_template("auth/verify_first.html", email=user.email)
        return body, 403, {"Cache-Control": "no-store"}
    return second_step_or_sign_in(user, ["pwd"], ix, link=link)


def second_step_or_sign_in(
    user: User, amr: list[str], ix, upstream: str | None = None, link: dict | None = None
):
    """Users with TOTP give a code next; everyone else is signed in now."""
    if user.mfa_enabled:
        session["mfa_pending"] = {
            "id": secrets.token_urlsafe(16),  # names its wrong-code counter (services/mfa)
            "user": str(user.id),
            "ix": ix.id if ix else None,
            "at": clock.now(),
            "next": request.values.get("next"),
            "amr": amr,
            "upstream": upstream,
            "link": link,
        }
        return redirect(url_for("mfa.verify", ix=ix.id if ix else None), 303)
    return complete_sign_in(user, amr, ix, upstream, link)


def complete_sign_in(
    user: User,
    amr: list[str],
    ix: Interaction | None,
    upstream: str | None = None,
    link: dict | None = None,
):
    """Start a fresh session and continue where the user was going.

    `link` is the pending link this very sign-in was asked to complete (see
    hold_pending_link); any other pending link in the browser ends here, unused.
    """
    session.pop("federation_link", None)
    browser_session, token = start_fresh_session(user, amr, upstream)
    linked = finish_pending_link(user, link) if link else None
    if ix is not None:
        ix.signed_in_session = str(browser_session.id)
        interaction.save(ix)
        target = url_for("oauth.resume_authorization", ix=ix.id)
    elif linked:
        target = url_for("account.account", linked=linked)
    else:
        target = url_for(NEXT_PAGES.get(request.values.get("next", ""), "auth.home"))
    response = redirect(target, 303)
    hand_over_session(response, token, user)
    return response


def start_fresh_session(user: User, amr: list[str], upstream: str | None = None):
    """Sign this browser in with a new cookie value (see signin.start_session)."""
    return signin.start_session(
        user,
        amr,
        context.client_ip(),
        request.user_agent.string or "",
        previous=context.current_session(),
        upstream=upstream,
    )


def hold_pending_link(provider, profile, account_id) -> dict:
    """Remember an upstream identity that needs the owner of `account_id` to sign in.

    The link page's sign-in form carries the pending link's random id; only a sign-in
    through that form, to that account, within PENDING_LINK_SECONDS, links it. Any other
    sign-in, a sign-out or the timeout drops it (a shared computer hands nothing on).
    """
    pending = {
        "id": secrets.token_urlsafe(16),
        "provider": provider.name,
        "display_name": provider.display_name,
        "issuer": profile.issuer,
        "subject": profile.subject,
        "email": profile.email,
        "account": str(account_id),
        "at": clock.now(),
    }
    session["federation_link"] = pending
    return pending


def _pending_link_in_form() -> dict | None:
    """The pending link, if fresh and named by this request's form (the link page's)."""
    pending = session.get("federation_link")
    named = request.values.get("link", "")
    if (
        not pending
        or not named
        or not hmac.compare_digest(named.encode(), pending.get("id", "").encode())
        or clock.now() - pending.get("at", 0) > PENDING_LINK_SECONDS
    ):
        return None
    return pending


def _take_pending_link() -> dict | None:
    """End the browser's pending link; return it when this sign-in is the one it asked for."""
    pending = _pending_link_in_form()
    session.pop("federation_link", None)
    return pending


def finish_pending_link(user: User, pending: dict) -> str | None:
    """Link the upstream identity this sign-in was asked for, if it names this account.

    Signing in to the account with its own method is the proof of ownership the linking
    rule asks for (services/federation.py). Returns the provider name when linked.
    """
    if (
        pending.get("account") != str(user.id)
        or clock.now() - pending.get("at", 0) > PENDING_LINK_SECONDS
    ):
        return None
    profile = UpstreamProfile(
        issuer=pending["issuer"],
        subject=pending["subject"],
        email=pending.get("email"),
        email_verified=False,
        name="",
    )
    try:
        federation.link(user, pending["provider"], profile)
    except users.AccountError:
        return None
    return pending["provider"]


def hand_over_session(response, token: str, user: User) -> None:
    """Give the browser its new session cookie and remember the account on this device."""
    _set_session_cookie(response, token)
    devices.remember_account(response, user.email)


def take_pending_mfa() -> dict | None:
    """The password-verified sign-in waiting for its second factor, if still fresh."""
    pending = session.get("mfa_pending")
    if not pending or clock.now() - pending.get("at", 0) > PENDING_MFA_SECONDS:
        return None
    return pending


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
        linking=_pending_link_in_form(),
    )
    headers = {"Cache-Control": "no-store"}
    if retry_after:
        headers["Retry-After"] = str(retry_after)
    return body, status, headers


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
    for pending in ("mfa_pending", "federation_link", "federation"):
        session.pop(pending, None)
    response = redirect(url_for("auth.home"), 303)
    config = current_app.config["IDP"]
    response.delete_cookie(
        config.session_cookie_name, path="/", secure=config.https, httponly=True, samesite="Lax"
    )
    return response
