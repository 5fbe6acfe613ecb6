"""Revoked access tokens, by `jti`, kept in the short-lived store until they expire."""

from __future__ import annotations

import math
from datetime import datetime

from flask import current_app

from .. import clock

KEY_PREFIX = "bl:"


def block(jti: str, expires_at: datetime | float) -> None:
    """Refuse this access token for the rest of its lifetime."""
    exp = expires_at.timestamp() if isinstance(expires_at, datetime) else float(expires_at)
    ttl = math.ceil(exp - clock.now())
    if ttl > 0:
        current_app.extensions["idp.store"].put(KEY_PREFIX + jti, "1", ttl)


def is_blocked(jti: str) -> bool:
    """True when revoked; raises StoreUnavailable so callers fail closed."""
    return current_app.extensions["idp.store"].get(KEY_PREFIX + jti) is not None
