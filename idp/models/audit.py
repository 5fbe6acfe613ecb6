"""The append-only audit log. User ids are kept without a foreign key, so erasing a user
leaves the records pseudonymous rather than deleting them."""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from .base import JSONValue, UTCDateTime, utcnow


class AuditEvent(db.Model):
    __tablename__ = "audit_events"
    __table_args__ = (sa.Index("ix_audit_events_type_time", "event_type", "occurred_at"),)

    id: Mapped[int] = mapped_column(
        sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True
    )
    occurred_at = mapped_column(UTCDateTime, default=utcnow, nullable=False, index=True)
    event_type: Mapped[str] = mapped_column(sa.String(64), nullable=False)
    user_id: Mapped[uuid.UUID | None] = mapped_column(sa.Uuid, index=True)
    client_id = mapped_column(sa.String(48), index=True)
    ip: Mapped[str] = mapped_column(sa.String(64), default="")
    user_agent: Mapped[str] = mapped_column(sa.String(512), default="")
    details: Mapped[dict] = mapped_column(JSONValue, default=dict)
