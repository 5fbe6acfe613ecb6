"""The audit log: what happened, to whom, from where. Never a token, secret or password."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from flask import current_app, has_request_context, request

from ..extensions import db
from ..models import AuditEvent
from ..models.base import utcnow
from ..observability import count_event
from . import outbox
from .on_commit import on_commit

log = logging.getLogger("idp.security")

EVENT_TYPES = (
    # sign-in and sessions
    "login_success",
    "login_failure",
    "session_ended",
    "backchannel_logout_delivered",
    "backchannel_logout_failed",
    # authorization and tokens
    "consent_granted",
    "consent_revoked",
    "code_issued",
    "code_replay",
    "tokens_issued",
    "refresh_rotated",
    "refresh_token_reuse",
    "refresh_token_foreign_client",
    "token_revoked",
    "token_exchanged",
    "token_exchange_refused",
    # accounts
    "email_verified",
    "password_changed",
    "password_reset",
    "password_reset_requested",
    "password_reset_forced",
    "mfa_enabled",
    "mfa_disabled",
    "mfa_failure",
    "recovery_code_used",
    "recovery_codes_regenerated",
    "identity_linked",
    "identity_unlinked",
    "federation_failed",
    # administration
    "user_disabled",
    "user_enabled",
    "user_deleted",
    "roles_changed",
    "role_defined",
    "client_created",
    "client_updated",
    "client_secret_rotated",
    "client_deleted",
)


# One constant INSERT: cheaper than a new ORM object per event (compiled and keyed once).
_INSERT = AuditEvent.__table__.insert()


def record(
    event_type: str,
    user_id=None,
    client_id: str | None = None,
    batched: bool = False,
    **details: Any,
) -> None:
    """Stage an audit event in the current transaction; the use case commits it.

    `batched` is for routine, high-volume events (client_credentials tokens, refresh
    rotations): the row goes to the outbox table, in the same transaction, and a drain moves
    such rows into audit_events in multi-row INSERTs about every IDP_AUDIT_BATCH_SECONDS
    (0 writes it into audit_events at once). Either way it commits with the change.
    """
    assert event_type in EVENT_TYPES, f"unregistered audit event {event_type!r}"
    ip = user_agent = ""
    if has_request_context():
        ip = (request.remote_addr or "")[:64]
        user_agent = (request.user_agent.string or "")[:512]
    row = {
        "occurred_at": utcnow(),
        "event_type": event_type,
        "user_id": user_id,
        "client_id": client_id,
        "ip": ip,
        "user_agent": user_agent,
        "details": details,
    }
    if batched and current_app.config["IDP"].audit_batch_seconds > 0:
        queued = {**row, "occurred_at": row["occurred_at"].isoformat()}
        queued["user_id"] = str(user_id) if user_id is not None else None
        outbox.enqueue(outbox.AUDIT, queued, user_id=user_id)
        # Logged and counted once committed: a failed commit recorded nothing.
        on_commit(lambda: _announce(row))
        return
    db.session.execute(_INSERT, row)
    _announce(row)


def _announce(row: dict[str, Any]) -> None:
    event_type, user_id, client_id = row["event_type"], row["user_id"], row["client_id"]
    count_event(event_type, row["details"])
    log.info(
        event_type,
        extra={"event": event_type, "user_id": str(user_id or ""), "client_id": client_id or ""},
    )


def flush_queued() -> None:
    """Move rows still in the outbox into audit_events, so a read that follows sees them."""
    outbox.drain(audit=True, deliveries=False)


def query(
    user_id=None,
    client_id: str | None = None,
    event_type: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[AuditEvent]:
    """Return matching events, newest first (skipping `offset` of them: a page)."""
    flush_queued()
    statement = db.select(AuditEvent)
    if user_id is not None:
        statement = statement.filter_by(user_id=user_id)
    if client_id:
        statement = statement.filter_by(client_id=client_id)
    if event_type:
        statement = statement.filter_by(event_type=event_type)
    if since is not None:
        statement = statement.where(AuditEvent.occurred_at >= since)
    if until is not None:
        statement = statement.where(AuditEvent.occurred_at < until)
    statement = statement.order_by(AuditEvent.occurred_at.desc(), AuditEvent.id.desc())
    return list(db.session.execute(statement.limit(limit).offset(offset)).scalars())
