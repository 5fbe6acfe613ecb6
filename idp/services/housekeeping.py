"""Deleting rows nothing can use any more: expired codes, dead refresh tokens, ended
sessions, used or expired links. The audit log is kept (operators decide its retention),
but rows of users who were deleted lose their IP and user agent, as deletion does: this
catches rows a request in flight staged in the outbox after the deletion (in audit_events
or still in the outbox)."""

from __future__ import annotations

from datetime import timedelta

from ..extensions import db
from ..models import (
    AccountToken,
    AuditEvent,
    AuthorizationCode,
    BrowserSession,
    OutboxMessage,
    RefreshToken,
    RevokedAccessToken,
    User,
)
from ..models.base import utcnow
from . import outbox

GRACE = timedelta(days=1)  # keep a day for replay detection and investigation


def purge() -> dict[str, int]:
    """Delete what expired more than a day ago; return how many rows of each kind."""
    cutoff = utcnow() - GRACE
    deleted = {
        "authorization_codes": db.session.execute(
            db.delete(AuthorizationCode).where(AuthorizationCode.expires_at < cutoff)
        ).rowcount,
        "refresh_tokens": db.session.execute(
            db.delete(RefreshToken).where(
                (RefreshToken.family_expires_at < cutoff)
                | (RefreshToken.expires_at < cutoff)
                | (RefreshToken.revoked_at < cutoff)
            )
        ).rowcount,
        "browser_sessions": db.session.execute(
            db.delete(BrowserSession).where(BrowserSession.ended_at < cutoff)
        ).rowcount,
        "account_tokens": db.session.execute(
            db.delete(AccountToken).where(
                (AccountToken.expires_at < cutoff) | (AccountToken.used_at < cutoff)
            )
        ).rowcount,
        # A revoked access token that expired fails verification on its own.
        "revoked_access_tokens": db.session.execute(
            db.delete(RevokedAccessToken).where(RevokedAccessToken.expires_at < utcnow())
        ).rowcount,
        "audit_events_pseudonymised": db.session.execute(
            db.update(AuditEvent)
            .where(
                AuditEvent.user_id.is_not(None),
                AuditEvent.event_type != "user_deleted",  # that row is the admin's
                ~AuditEvent.user_id.in_(db.select(User.id)),
                (AuditEvent.ip != "") | (AuditEvent.user_agent != ""),
            )
            .values(ip="", user_agent="")
            .execution_options(synchronize_session=False)
        ).rowcount,
    }
    deleted["audit_events_pseudonymised"] += sum(
        outbox.blank_user_rows(user_id)
        for user_id in db.session.execute(
            db.select(OutboxMessage.user_id)
            .where(
                OutboxMessage.kind == outbox.AUDIT,
                OutboxMessage.user_id.is_not(None),
                ~OutboxMessage.user_id.in_(db.select(User.id)),
            )
            .distinct()
        ).scalars()
    )
    db.session.commit()
    return deleted
