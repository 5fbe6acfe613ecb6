"""Revoked access tokens: the durable record (the short-lived store only caches it)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from .base import UTCDateTime


class RevokedAccessToken(db.Model):
    """One row per revoked access token, by `jti`, until the token expires (then `idp db
    purge` deletes it). A Redis that restarts empty is rebuilt from these rows."""

    __tablename__ = "revoked_access_tokens"

    jti: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    expires_at = mapped_column(UTCDateTime, nullable=False, index=True)
