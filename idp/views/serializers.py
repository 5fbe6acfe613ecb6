"""JSON shapes of users, sessions and audit events, shared by the admin API and the CLI."""

from __future__ import annotations

from typing import Any

from ..models import AuditEvent, BrowserSession, User


def _time(value) -> str | None:
    return value.isoformat() if value is not None else None


def user_json(user: User) -> dict[str, Any]:
    return {
        "id": str(user.id),
        "email": user.email,
        "email_verified": bool(user.email_verified),
        "name": user.name,
        "roles": list(user.roles),
        "disabled": bool(user.disabled),
        "mfa_enabled": user.mfa_enabled,
        "created_at": _time(user.created_at),
    }


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
