"""People who sign in."""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from .base import JSONValue, UTCDateTime, utcnow

BUILT_IN_ROLES = ("user", "moderator", "admin")


class User(db.Model):
    __tablename__ = "users"

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True, default=uuid.uuid4)
    # Stored lower-cased, so the unique index is case-insensitive on every backend.
    email: Mapped[str] = mapped_column(sa.String(320), unique=True)
    email_verified: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    password_hash: Mapped[str | None] = mapped_column(sa.String(255))
    name: Mapped[str] = mapped_column(sa.String(200), default="")
    roles: Mapped[list] = mapped_column(JSONValue, default=lambda: ["user"])
    created_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    disabled: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    # Access tokens issued before this instant are refused (password reset, sign-out
    # everywhere, disabling): a per-user "not before" that needs no blocklist entry.
    tokens_valid_after = mapped_column(UTCDateTime)
    # TOTP (RFC 6238): the secret encrypted with IDP_TOTP_KEY; the last accepted time step
    # so a code cannot be used twice.
    totp_secret: Mapped[str | None] = mapped_column(sa.Text)
    totp_enabled_at = mapped_column(UTCDateTime)
    totp_last_step: Mapped[int | None] = mapped_column(sa.BigInteger)

    @property
    def mfa_enabled(self) -> bool:
        return self.totp_enabled_at is not None

    def get_user_id(self) -> str:
        """Authlib's hook: the stable `sub`."""
        return str(self.id)
