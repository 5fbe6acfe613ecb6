"""Browser sessions: start at sign-in, look up by cookie, end at logout."""

from __future__ import annotations

import hashlib
import logging
import secrets
from datetime import timedelta

from flask import current_app

from ..extensions import db
from ..models import BrowserSession, User
from ..models.base import utcnow
from . import audit, users

log = logging.getLogger("idp.security")
LAST_SEEN_RESOLUTION = timedelta(seconds=60)


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start_session(
    user: User, amr: list[str], ip: str, user_agent: str
) -> tuple[BrowserSession, str]:
    """Create a session with a fresh random id; return it and the cookie value."""
    token = secrets.token_urlsafe(32)
    now = utcnow()
    session = BrowserSession(
        token_hash=_hash(token),
        user_id=user.id,
        auth_time=now,
        amr=amr,
        ip=ip[:64],
        user_agent=user_agent[:512],
        created_at=now,
        last_seen_at=now,
    )
    db.session.add(session)
    audit.record("login_success", user_id=user.id, amr=amr)
    db.session.commit()
    return session, token


def record_failed_sign_in(email: str) -> None:
    """Audit a failed sign-in (never the password); the user id only when the email is known."""
    user = users.find_by_email(email) if len(email) <= 320 else None
    audit.record("login_failure", user_id=user.id if user else None)
    db.session.commit()


def find_session(token: str | None) -> BrowserSession | None:
    """Return the live session for a cookie value, or None if unknown, ended or timed out."""
    if not token or len(token) > 128:
        return None
    session = db.session.execute(
        db.select(BrowserSession).filter_by(token_hash=_hash(token))
    ).scalar_one_or_none()
    if session is None or session.ended_at is not None:
        return None
    config = current_app.config["IDP"]
    now = utcnow()
    idle_deadline = session.last_seen_at + timedelta(seconds=config.session_idle_ttl)
    absolute_deadline = session.created_at + timedelta(seconds=config.session_absolute_ttl)
    if now >= idle_deadline or now >= absolute_deadline:
        return None
    user = db.session.get(User, session.user_id)
    if user is None or user.disabled:
        return None
    if now - session.last_seen_at >= LAST_SEEN_RESOLUTION:
        session.last_seen_at = now
        db.session.commit()
    return session


def end_session(session: BrowserSession) -> None:
    """Mark the session ended so its cookie no longer works anywhere."""
    if session.ended_at is None:
        session.ended_at = utcnow()
        db.session.commit()
        log.info("signed out", extra={"event": "logout", "user_id": str(session.user_id)})
