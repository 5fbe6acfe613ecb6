"""Rendering the sign-in state machine's outcomes (services/signin_flow.py), shared by the
sign-in, second-step and upstream pages: where the browser goes next, and its new cookie."""

from __future__ import annotations

from flask import current_app, redirect, request, url_for
from flask_babel import gettext as _

from ..models import User
from ..services import interaction
from ..services.signin_flow import Outcome, State
from . import context, devices
from .errors import error_page

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
            _("This sign-in request has expired. Go back to the application and start again."),
            400,
        )
    return ix, None


def signed_in_or_second_step(outcome: Outcome):
    """Render SECOND_FACTOR (to the code page) or SIGNED_IN (onwards, with the new cookie)."""
    ix = outcome.ix
    if outcome.state is State.SECOND_FACTOR:
        return redirect(url_for("mfa.verify", ix=ix.id if ix else None), 303)
    if ix is not None:
        target = url_for("oauth.resume_authorization", ix=ix.id)
    elif outcome.linked:
        target = url_for("account.account", linked=outcome.linked)
    else:
        target = url_for(NEXT_PAGES.get(outcome.next_page or "", "auth.home"))
    response = redirect(target, 303)
    hand_over_session(response, outcome.cookie, outcome.user)
    return response


def hand_over_session(response, token: str, user: User) -> None:
    """Give the browser its new session cookie and remember the account on this device."""
    _set_session_cookie(response, token)
    devices.remember_account(response, user.email)


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
