"""The browser session of the current request, looked up once per request."""

from __future__ import annotations

from flask import current_app, g, request, session

from ..models import BrowserSession, User
from ..services import signin, users

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
