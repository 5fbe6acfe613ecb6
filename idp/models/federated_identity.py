"""Accounts at upstream identity providers linked to local users, keyed by issuer + subject."""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from .base import UTCDateTime, utcnow


class FederatedIdentity(db.Model):
    __tablename__ = "federated_identities"
    # The upstream subject is the key, never the email (RFC 9700 §4.7, OIDC Core §5.7).
    __table_args__ = (sa.UniqueConstraint("issuer", "subject"),)

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True)
    provider: Mapped[str] = mapped_column(sa.String(32), nullable=False)
    issuer: Mapped[str] = mapped_column(sa.String(255), nullable=False)
    subject: Mapped[str] = mapped_column(sa.String(255), nullable=False)
    user_id: Mapped[uuid.UUID] = mapped_column(
        sa.Uuid, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True
    )
    email_seen: Mapped[str] = mapped_column(sa.String(320), default="")
    created_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    last_used_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)
