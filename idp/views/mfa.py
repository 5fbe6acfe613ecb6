"""Two-step verification pages: the code page at sign-in and the settings on the account."""

from __future__ import annotations

from flask import Blueprint, g, make_response, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from markupsafe import Markup

from ..services import mfa, signin_flow
from ..services.signin_flow import State
from . import context
from .errors import error_page
from .outcomes import hand_over_session, pending_interaction, signed_in_or_second_step

bp = Blueprint("mfa", __name__)
WRONG_CODE = _l(
    "That code is not right. Enter the current code from your app, or a recovery code."
)
# At setup there are no recovery codes yet: only the app's code can be right.
WRONG_SETUP_CODE = _l(
    "That code is not right. Enter the code your authenticator app shows now for this key."
)
TOO_MANY_WRONG_CODES = _l("Too many wrong codes. Sign in again with your password.")
CODE_ALREADY_USED = _l(
    "That code was already used. Wait for the next code in your app, then enter it."
)


def _page(template: str, status: int = 200, **values):
    return render_template(template, **values), status, {"Cache-Control": "no-store"}


@bp.route("/login/mfa", methods=["GET", "POST"])
def verify():
    """The second step: after the password, or to step up a session an app wants with MFA."""
    ix, problem = pending_interaction()
    if problem:
        return problem
    browser = context.browser()
    attempt = signin_flow.second_factor_attempt(browser, ix, request.values.get("next"))
    if attempt is None:
        return redirect(url_for("auth.login", ix=ix.id if ix else None), 303)
    if request.method == "GET":
        return _page("auth/mfa.html", ix=ix)
    code = request.form.get("code", "")[:64]
    outcome = signin_flow.verify_second_factor(browser, attempt, code, ix)
    if outcome.state is State.LOCKED:
        return error_page(TOO_MANY_WRONG_CODES, 429)
    if outcome.state is State.FAILED:
        reused = outcome.user is not None and mfa.code_already_used(outcome.user, code)
        return _page("auth/mfa.html", 401, ix=ix, error=CODE_ALREADY_USED if reused else WRONG_CODE)
    return signed_in_or_second_step(outcome)


@bp.get("/account/mfa")
@context.signed_in
def settings():
    user = g.user
    ix, problem = pending_interaction()
    if problem:
        return problem
    return _page(
        "account/mfa.html",
        user=user,
        ix=ix,
        remaining=mfa.remaining_recovery_codes(user) if user.mfa_enabled else 0,
    )


@bp.post("/account/mfa/setup")
@context.signed_in
def setup():
    user = g.user
    ix, problem = pending_interaction()
    if problem:
        return problem
    if user.mfa_enabled:
        return redirect(url_for("mfa.settings"), 303)
    secret = mfa.start_enrollment(user)
    return _setup_page(user, secret, ix)


def _setup_page(user, secret: str, ix, error: str | None = None, status: int = 200):
    uri, svg = mfa.provisioning(user, secret)
    # segno's SVG is generated from our own otpauth URI: safe to embed as markup.
    qr = Markup(svg)  # noqa: S704
    return _page(
        "account/mfa_setup.html", status, secret=secret, uri=uri, qr=qr, ix=ix, error=error
    )


@bp.post("/account/mfa/confirm")
@context.signed_in
def confirm():
    user = g.user
    ix, problem = pending_interaction()
    if problem:
        return problem
    codes = mfa.confirm_enrollment(user, request.form.get("code", "")[:64])
    if codes is None:
        secret = mfa.pending_secret(user)
        if secret is None:
            return error_page(_("The setup expired. Start again from your account page."), 400)
        return _setup_page(user, secret, ix, error=WRONG_SETUP_CODE, status=400)
    outcome = signin_flow.second_factor_enrolled(context.browser(), user, ix)
    response = make_response(_page("account/recovery_codes.html", codes=codes, ix=ix))
    hand_over_session(response, outcome.cookie, user)
    return response


@bp.post("/account/mfa/recovery-codes")
def regenerate():
    user = context.current_user()
    if user is None or not user.mfa_enabled:
        return redirect(url_for("mfa.settings"), 303)
    codes = mfa.regenerate_recovery_codes(user, request.form.get("code", "")[:64])
    if codes is None:
        return _page(
            "account/mfa.html",
            400,
            user=user,
            ix=None,
            error=WRONG_CODE,
            remaining=mfa.remaining_recovery_codes(user),
        )
    return _page("account/recovery_codes.html", codes=codes, ix=None)


@bp.post("/account/mfa/disable")
def disable():
    user = context.current_user()
    if user is None or not user.mfa_enabled:
        return redirect(url_for("mfa.settings"), 303)
    if not mfa.disable(user, request.form.get("password", ""), request.form.get("code", "")[:64]):
        return _page(
            "account/mfa.html",
            400,
            user=user,
            ix=None,
            error=_("The password or the code is not right."),
            remaining=mfa.remaining_recovery_codes(user),
        )
    return redirect(url_for("mfa.settings"), 303)
