"""The browser session of the current request, looked up once per request."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from flask import current_app, g, redirect, request, session, url_for

from ..models import BrowserSession, User
from ..services import signin, users
from ..services.signin_flow import Browser

MAX_PENDING_INTERACTIONS = 5


def current_session() -> BrowserSession | None:
    if "browser_session" not in g:
        cookie = request.cookies.get(current_app.config["IDP"].session_cookie_name)
        g.browser_session = signin.find_session(cookie)
    return g.browser_session


def current_user() -> User | None:
    browser_session = current_session()
    return users.get_user(browser_session.user_id) if browser_session else None


def bind_interaction(interaction_id: str) -> None:
    """Remember in this browser's signed cookie that it started the interaction."""
    pending = [i for i in session.get("ix", []) if i != interaction_id]
    session["ix"] = [*pending, interaction_id][-MAX_PENDING_INTERACTIONS:]


def owns_interaction(interaction_id: str | None) -> bool:
    return bool(interaction_id) and interaction_id in session.get("ix", [])


def client_ip() -> str:
    return request.remote_addr or ""


def browser() -> Browser:
    """This request's browser as the sign-in state machine sees it (services/signin_flow)."""
    return Browser(session, current_session(), client_ip(), request.user_agent.string or "")


def signed_in(view: Callable) -> Callable:
    """Account pages: send visitors to sign in first; the view reads `g.user`."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        user = current_user()
        if user is None:
            return redirect(url_for("auth.login", next="account"), 303)
        g.user = user
        return view(*args, **kwargs)

    return wrapper
