"""Single-use emailed links: at least 256 bits, stored as SHA-256, short-lived."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from ..extensions import db
from ..models import AccountToken, User
from ..models.base import utcnow

VERIFY_EMAIL = "verify_email"
RESET_PASSWORD = "reset_password"
LIFETIMES = {VERIFY_EMAIL: timedelta(hours=24), RESET_PASSWORD: timedelta(minutes=30)}


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue(user: User, purpose: str) -> str:
    """Stage a new link token for the user; the caller commits. Returns the plain token."""
    token = secrets.token_urlsafe(32)
    db.session.add(
        AccountToken(
            user_id=user.id,
            purpose=purpose,
            token_hash=_hash(token),
            expires_at=utcnow() + LIFETIMES[purpose],
        )
    )
    return token


def find(token: str | None, purpose: str) -> AccountToken | None:
    """The unused, unexpired token for this purpose, else None."""
    if not token or len(token) > 128:
        return None
    item = db.session.execute(
        db.select(AccountToken).filter_by(token_hash=_hash(token), purpose=purpose)
    ).scalar_one_or_none()
    if item is None or item.used_at is not None or item.expires_at <= utcnow():
        return None
    return item


def consume(item: AccountToken) -> bool:
    """Mark it used; True for exactly one caller. Not committed: the use case commits."""
    now = utcnow()
    result = db.session.execute(
        db.update(AccountToken)
        .where(
            AccountToken.id == item.id,
            AccountToken.used_at.is_(None),
            AccountToken.expires_at > now,
        )
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


def revoke_outstanding(user: User, purpose: str) -> None:
    """Mark every unused link of this purpose used: after a reset or a password change,
    older reset links must not set the password again. Not committed."""
    db.session.execute(
        db.update(AccountToken)
        .where(
            AccountToken.user_id == user.id,
            AccountToken.purpose == purpose,
            AccountToken.used_at.is_(None),
        )
        .values(used_at=utcnow())
        .execution_options(synchronize_session=False)
    )
