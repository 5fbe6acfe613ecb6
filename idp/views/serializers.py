"""JSON shapes of sessions and audit events for the admin API and console (users: the User
model in idp/schemas/users.py)."""

from __future__ import annotations

from typing import Any

from ..models import AuditEvent, BrowserSession
from ..schemas.users import user_json  # noqa: F401 - the User shape, from its schema


def _time(value) -> str | None:
    return value.isoformat() if value is not None else None


def session_json(session: BrowserSession) -> dict[str, Any]:
    return {
        "id": str(session.id),
        "ip": session.ip,
        "user_agent": session.user_agent,
        "amr": list(session.amr or []),
        "auth_time": _time(session.auth_time),
        "created_at": _time(session.created_at),
        "last_seen_at": _time(session.last_seen_at),
    }


def audit_event_json(event: AuditEvent) -> dict[str, Any]:
    return {
        "id": event.id,
        "occurred_at": _time(event.occurred_at),
        "event_type": event.event_type,
        "user_id": str(event.user_id) if event.user_id else None,
        "client_id": event.client_id,
        "ip": event.ip,
        "user_agent": event.user_agent,
        "details": event.details,
    }
