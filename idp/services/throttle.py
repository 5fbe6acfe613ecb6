"""Per-account progressive delay after failed sign-ins, without a lockout for strangers to use.

Failures are counted per email address (known or not, so the delay itself reveals nothing)
and, separately, per email on each device where that account signed in before (OWASP's
"device cookie" pattern). Three failures are free; from the fourth, the next attempt must
wait 1 s, then 2 s, 4 s … capped at five minutes. An attacker elsewhere can slow sign-ins
for an address on new devices, never for more than the cap at a time, and cannot touch a
device the owner already used: there the owner has a counter of their own.
"""

from __future__ import annotations

import hashlib
import math

from flask import current_app

from .. import clock

FREE_ATTEMPTS = 3
MAX_DELAY_SECONDS = 300
STATE_TTL_SECONDS = 24 * 3600
KEY_PREFIX = "signin-fail:"


def email_digest(email: str) -> str:
    return hashlib.sha256(email.strip().lower().encode()).hexdigest()[:32]


def delay_after(failures: int) -> int:
    """Seconds to wait after this many consecutive failures: 0, 0, 0, 1, 2, 4 … ≤ 300."""
    if failures <= FREE_ATTEMPTS:
        return 0
    return min(2 ** (failures - FREE_ATTEMPTS - 1), MAX_DELAY_SECONDS)


def _key(email: str, device: str | None) -> str:
    suffix = f":{device}" if device else ""
    return KEY_PREFIX + email_digest(email) + suffix


def failures(email: str, device: str | None) -> int:
    """Consecutive failed sign-ins counted for this email (on this device)."""
    raw = current_app.extensions["idp.store"].get(_key(email, device) + ":n")
    return int(raw) if raw else 0


def retry_after(email: str, device: str | None) -> int:
    """Whole seconds before the next attempt for this email may be checked (0: now)."""
    store = current_app.extensions["idp.store"]
    last = float(store.get(_key(email, device) + ":at") or 0.0)
    wait = last + delay_after(failures(email, device)) - clock.now()
    return max(0, math.ceil(wait))


def record_failure(email: str, device: str | None) -> None:
    """Count the failure atomically: concurrent attempts each add one (none is lost)."""
    store = current_app.extensions["idp.store"]
    key = _key(email, device)
    store.incr(key + ":n", STATE_TTL_SECONDS)
    store.put(key + ":at", repr(clock.now()), STATE_TTL_SECONDS)


def reset(email: str, device: str | None) -> None:
    store = current_app.extensions["idp.store"]
    for key in {_key(email, device), _key(email, None)} if device else {_key(email, None)}:
        store.delete(key + ":n")
        store.delete(key + ":at")
