"""Refresh tokens: opaque, stored as SHA-256, grouped in rotation families."""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from authlib.oauth2.rfc6749 import TokenMixin
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from .base import JSONValue, UTCDateTime, utcnow


class RefreshToken(db.Model, TokenMixin):
    __tablename__ = "refresh_tokens"

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True)
    token_hash = mapped_column(sa.String(64), unique=True, nullable=False)
    family_id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, nullable=False, index=True)
    parent_id: Mapped[int | None] = mapped_column(sa.Integer)
    client_id = mapped_column(sa.String(48), nullable=False, index=True)
    user_id: Mapped[uuid.UUID] = mapped_column(
        sa.Uuid, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True
    )
    session_id: Mapped[uuid.UUID | None] = mapped_column(sa.Uuid, index=True)
    # Issued for offline_access: survives the end of the browser session.
    offline: Mapped[bool] = mapped_column(sa.Boolean, default=False, nullable=False)
    scope: Mapped[str] = mapped_column(sa.Text, default="")
    auth_time: Mapped[int] = mapped_column(sa.Integer, nullable=False)
    amr: Mapped[list] = mapped_column(JSONValue, default=list)
    # The access token issued beside this refresh token, so a revoked family can
    # blocklist it until it expires.
    access_jti = mapped_column(sa.String(64))
    access_expires_at = mapped_column(UTCDateTime)
    issued_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    used_at = mapped_column(UTCDateTime)
    revoked_at = mapped_column(UTCDateTime)
    expires_at = mapped_column(UTCDateTime, nullable=False)  # idle deadline
    family_expires_at = mapped_column(UTCDateTime, nullable=False)  # absolute deadline

    # Authlib's TokenMixin
    def check_client(self, client) -> bool:
        return self.client_id == client.get_client_id()

    def get_scope(self) -> str:
        return self.scope

    def get_expires_in(self) -> int:
        return max(0, int((self.expires_at - utcnow()).total_seconds()))

    def is_expired(self) -> bool:
        now = utcnow()
        return self.expires_at <= now or self.family_expires_at <= now

    def is_revoked(self) -> bool:
        return self.revoked_at is not None or self.used_at is not None
