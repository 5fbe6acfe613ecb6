"""Roles an admin defined, beside the built-in user, moderator and admin."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from .base import UTCDateTime, utcnow


class Role(db.Model):
    __tablename__ = "roles"

    name: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    description: Mapped[str] = mapped_column(sa.String(200), default="")
    created_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)
