"""Server-side browser sessions; the cookie carries only an opaque id."""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from .base import JSONValue, UTCDateTime, utcnow


class BrowserSession(db.Model):
    __tablename__ = "browser_sessions"

    # Public identifier, used as `sid` in ID tokens; not the cookie value.
    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True, default=uuid.uuid4)
    # SHA-256 of the cookie value.
    token_hash = mapped_column(sa.String(64), unique=True, nullable=False)
    user_id: Mapped[uuid.UUID] = mapped_column(
        sa.Uuid, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True
    )
    auth_time = mapped_column(UTCDateTime, nullable=False)
    amr: Mapped[list] = mapped_column(JSONValue, default=lambda: ["pwd"])
    # The sign-in methods, in order ("pwd", "fed", "otp", "recovery": services/signin_flow);
    # amr is derived from them. NULL on sessions from before they were recorded.
    methods: Mapped[list | None] = mapped_column(JSONValue)
    # The upstream provider the user signed in through, if any (the `idp` claim).
    upstream: Mapped[str | None] = mapped_column(sa.String(32))
    ip: Mapped[str] = mapped_column(sa.String(64), default="")
    user_agent: Mapped[str] = mapped_column(sa.String(512), default="")
    created_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    last_seen_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    ended_at = mapped_column(UTCDateTime)
