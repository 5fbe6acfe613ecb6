"""Authorization codes: stored hashed, single use, short-lived."""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from authlib.integrations.sqla_oauth2 import OAuth2AuthorizationCodeMixin
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from .base import UTCDateTime, utcnow


class AuthorizationCode(db.Model, OAuth2AuthorizationCodeMixin):
    __tablename__ = "authorization_codes"

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True)
    # SHA-256 of the code; the code itself is only ever in the redirect.
    code = mapped_column(sa.String(64), unique=True, nullable=False)
    client_id = mapped_column(sa.String(48), nullable=False, index=True)
    user_id: Mapped[uuid.UUID] = mapped_column(
        sa.Uuid, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False
    )
    session_id: Mapped[uuid.UUID | None] = mapped_column(sa.Uuid)
    expires_at = mapped_column(UTCDateTime, nullable=False)
    used_at = mapped_column(UTCDateTime)
    created_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    # What the exchange issued, so a replayed code can revoke it (RFC 6749 §4.1.2).
    access_jti = mapped_column(sa.String(64))
    access_expires_at = mapped_column(UTCDateTime)
    family_id: Mapped[uuid.UUID | None] = mapped_column(sa.Uuid)

    def is_expired(self) -> bool:
        return self.expires_at <= utcnow()

    def get_amr(self) -> list[str] | None:
        return self.amr.split() if self.amr else None

    def get_nonce(self) -> str | None:
        return self.nonce

    def get_auth_time(self) -> int:
        return self.auth_time
