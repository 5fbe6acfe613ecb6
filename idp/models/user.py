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

    def get_user_id(self) -> str:
        """Authlib's hook: the stable `sub`."""
        return str(self.id)
