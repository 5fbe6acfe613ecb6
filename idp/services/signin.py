"""Browser sessions: start at sign-in, look up by cookie, end (everywhere it matters).

Ending a session revokes the refresh-token families bound to it (offline_access families
survive, as OIDC intends), blocklists the access tokens issued in it, and tells the apps
through back-channel logout.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from datetime import timedelta

from flask import current_app

from ..extensions import db
from ..models import BrowserSession, User
from ..models.base import utcnow
from . import audit, backchannel, revocation, users

LAST_SEEN_RESOLUTION = timedelta(seconds=60)


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start_session(
    user: User,
    amr: list[str],
    ip: str,
    user_agent: str,
    previous: BrowserSession | None = None,
    upstream: str | None = None,
    methods: list[str] | None = None,
) -> tuple[BrowserSession, str]:
    """Sign the browser in; return the session and its new cookie value.

    `methods` are the sign-in methods used (services/signin_flow), `amr` what they add up to.

    The cookie value is always new (no fixation). When the browser was already signed in as
    the same user (prompt=login, max_age, a step-up to MFA) the session keeps its `sid`, so
    apps holding tokens from it are not logged out; another user's session is ended.
    """
    token = secrets.token_urlsafe(32)
    now = utcnow()
    if previous is not None and previous.user_id == user.id and previous.ended_at is None:
        session = previous
        session.token_hash = _hash(token)
    else:
        if previous is not None:
            stage_end([previous], reason="another_user_signed_in")
        session = BrowserSession(token_hash=_hash(token), user_id=user.id, created_at=now)
        db.session.add(session)
    session.auth_time = now
    session.amr = amr
    session.methods = methods
    session.upstream = upstream
    session.ip = ip[:64]
    session.user_agent = user_agent[:512]
    session.last_seen_at = now
    audit.record("login_success", user_id=user.id, amr=amr, upstream=upstream)
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
    if session is None or not is_live(session):
        return None
    user = db.session.get(User, session.user_id)
    if user is None or user.disabled:
        return None
    now = utcnow()
    if now - session.last_seen_at >= LAST_SEEN_RESOLUTION:
        session.last_seen_at = now
        db.session.commit()
    return session


def is_live(session: BrowserSession) -> bool:
    """Not ended, and within both the idle timeout and the absolute lifetime."""
    if session.ended_at is not None:
        return False
    config = current_app.config["IDP"]
    now = utcnow()
    return now < session.last_seen_at + timedelta(
        seconds=config.session_idle_ttl
    ) and now < session.created_at + timedelta(seconds=config.session_absolute_ttl)


def find_live_session(sid: str | None, user_id: str | None) -> BrowserSession | None:
    """The live session with this `sid`, if it belongs to that user."""
    try:
        session = db.session.get(BrowserSession, uuid.UUID(str(sid)))
    except ValueError:
        return None
    if session is None or str(session.user_id) != str(user_id) or not is_live(session):
        return None
    return session


def upstream_of(session_id) -> str | None:
    """The upstream provider a session signed in through (for the `idp` claim)."""
    session = db.session.get(BrowserSession, session_id)
    return session.upstream if session is not None else None


def live_sessions(user_id) -> list[BrowserSession]:
    """The user's sessions that still work, most recently used first."""
    sessions = db.session.execute(
        db.select(BrowserSession)
        .where(BrowserSession.user_id == user_id, BrowserSession.ended_at.is_(None))
        .order_by(BrowserSession.last_seen_at.desc())
    ).scalars()
    return [s for s in sessions if is_live(s)]


def end_session(session: BrowserSession, reason: str = "logout") -> None:
    """End the session: its cookie stops working, its tokens stop working, apps are told."""
    stage_end([session], reason=reason)
    db.session.commit()


def end_sessions(user_id, keep: BrowserSession | None = None, reason: str = "logout") -> int:
    """End every live session of the user except `keep`; return how many ended."""
    ended = stage_end_sessions(user_id, keep=keep, reason=reason)
    db.session.commit()
    return ended


def end_for_rp_logout(browser_session: BrowserSession | None, sub, sid) -> None:
    """RP-Initiated Logout: end this browser's session, and the session the ID token hint
    names (`sid`) when it is the same user's or no one is signed in here; one commit. A hint
    for another user ends this browser's session only, never theirs."""
    ending = [browser_session] if browser_session is not None else []
    if browser_session is None or str(browser_session.user_id) == sub:
        hinted = find_live_session(sid, sub)
        if hinted is not None:
            ending.append(hinted)
    stage_end(ending, reason="rp_initiated_logout")
    db.session.commit()


def stage_end_sessions(user_id, keep: BrowserSession | None = None, reason: str = "logout") -> int:
    """end_sessions in the caller's transaction (the caller commits)."""
    return stage_end(
        [s for s in live_sessions(user_id) if keep is None or s.id != keep.id], reason=reason
    )


def stage_end(sessions: list[BrowserSession], reason: str = "logout") -> int:
    """End these sessions in the caller's transaction (the caller commits); return how many
    were still live. Their refresh families but offline ones are revoked and the access
    tokens issued in them blocklisted; apps are told once the transaction commits."""
    unique = {s.id: s for s in sessions if s.ended_at is None}
    live = [unique[key] for key in sorted(unique)]
    if not live:
        return 0
    now = utcnow()
    for session in live:  # in id order, like every other lock on these rows
        session.ended_at = now
        audit.record("session_ended", user_id=session.user_id, sid=str(session.id), reason=reason)
    revocation.revoke_grants(session_ids=[s.id for s in live], keep_offline=True)
    for session in live:
        backchannel.notify(session)
    return len(live)
