"""The outbox: side effects written in the transaction of the change they follow.

A row is an audit event still to be moved into audit_events, a mail to send, a back-channel
logout to deliver or an account job to run after the response. Because it commits with the
change, a worker killed right after answering loses nothing; services/outbox.py drains it.
"""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from .base import JSONValue, UTCDateTime, utcnow


class OutboxMessage(db.Model):
    __tablename__ = "outbox"
    # Drains look for due rows of a kind, oldest first.
    __table_args__ = (sa.Index("ix_outbox_kind_available", "kind", "available_at"),)

    id: Mapped[int] = mapped_column(
        sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True
    )
    kind: Mapped[str] = mapped_column(sa.String(32), nullable=False)
    created_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    # When the next attempt may start: later after a failure (backoff), or while a drain
    # holds the row (a lease: a drain that dies mid-delivery leaves the row due again).
    available_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    attempts: Mapped[int] = mapped_column(sa.Integer, default=0, nullable=False)
    last_error: Mapped[str] = mapped_column(sa.String(200), default="", nullable=False)
    # Whose data the payload holds: deleting a user blanks their queued audit rows' IP/UA.
    user_id: Mapped[uuid.UUID | None] = mapped_column(sa.Uuid, index=True)
    payload: Mapped[dict] = mapped_column(JSONValue, nullable=False)
