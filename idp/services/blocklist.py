"""Revoked access tokens, by `jti`: recorded in the database, cached in the short-lived store.

The database is the record (revoked_access_tokens); Redis only caches it, so a Redis that
restarts empty, or is down, never turns a revoked token active again:

- `block` stages the row in the caller's transaction; the cache entry is written after the
  commit (services.on_commit), so a Redis outage cannot stop or undo a revocation.
- The cache holds a "complete" marker, written last, after a full rebuild from the
  database. `is_blocked` reads the entry and the marker in one round trip: an entry means
  revoked; no entry but the marker means not revoked; no marker (Redis restarted, or lost
  keys) means ask the database, and rebuild the cache. Redis unreachable: ask the database.
- A cache write that failed after a commit drops the marker if Redis lets it, and is
  retried by this process at its next check (and /readyz). A private "fresh" key lives
  REBUILD_EVERY_SECONDS: once it is gone, the next check (or /readyz) rebuilds the cache,
  which repairs it at the latest then.
- The in-process store (embedded default) is never trusted as complete: other processes
  (the CLI) revoke too, so the database answers.

The entries and the marker are also a published contract: idp-verifier's RedisBlocklist
reads them (verifier/README.md, "Revocation: the contract with idp"). Their names and
meaning do not change; the marker outlives REBUILD_EVERY_SECONDS (COMPLETE_TTL_SECONDS) so
that services reading it are not refused every time idp is idle for two minutes.
"""

from __future__ import annotations

import contextlib
import logging
import math
import threading
from datetime import UTC, datetime

from flask import current_app
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from .. import clock
from ..extensions import db
from ..models import RevokedAccessToken
from ..store import StoreUnavailable
from .on_commit import on_commit

log = logging.getLogger("idp")

# Published (idp_verifier.REVOKED_KEY_PREFIX, REVOKED_COMPLETE_KEY): never rename.
KEY_PREFIX = "bl:"
COMPLETE_KEY = "bl-complete"
COMPLETE_TTL_SECONDS = 24 * 3600
# Private to idp.
FRESH_KEY = "bl-fresh"
REBUILD_LOCK_KEY = "bl-rebuilding"
REBUILD_EVERY_SECONDS = 120
REBUILD_LOCK_SECONDS = 30
MAX_UNSYNCED = 10_000

_unsynced: list[tuple[str, float]] = []  # committed, but not in the cache yet (this process)
_unsynced_lock = threading.Lock()


def block(jti: str, expires_at: datetime | float) -> None:
    """Refuse this access token for the rest of its lifetime; the caller commits."""
    exp = expires_at.timestamp() if isinstance(expires_at, datetime) else float(expires_at)
    if exp <= clock.now():
        return
    insert = pg_insert if db.session.get_bind().dialect.name == "postgresql" else sqlite_insert
    db.session.execute(
        insert(RevokedAccessToken)
        .values(jti=jti, expires_at=datetime.fromtimestamp(exp, UTC))
        .on_conflict_do_nothing()
    )
    store = current_app.extensions["idp.store"]
    on_commit(lambda: _cache(store, [(jti, exp)]))


def is_blocked(jti: str) -> bool:
    """True when revoked. Raises only when neither the cache nor the database can answer."""
    store = current_app.extensions["idp.store"]
    if not store.shared:
        return _recorded(jti)
    if _unsynced:
        _cache(store, [])
    try:
        entry, complete, fresh = store.get_many([KEY_PREFIX + jti, COMPLETE_KEY, FRESH_KEY])
    except StoreUnavailable as exc:
        log.warning("revocation cache unavailable, asking the database: %s", exc)
        return _recorded(jti)
    if entry is not None:
        return True
    if complete is not None:
        if fresh is None:
            rebuild_cache(store)  # the periodic repair; the marker vouches for this answer
        return False
    revoked = _recorded(jti)
    rebuild_cache(store)
    return revoked


def ensure_cache() -> None:
    """Rebuild the cache if Redis lost it or it is due; /readyz calls this, so services that
    read it (idp-verifier's RedisBlocklist) see it complete again within a probe interval of a
    Redis restart. Raises StoreUnavailable when Redis cannot answer."""
    store = current_app.extensions["idp.store"]
    if not store.shared:
        return
    if _unsynced:
        _cache(store, [])
    if None in store.get_many([COMPLETE_KEY, FRESH_KEY]):
        rebuild_cache(store)


def rebuild_cache(store) -> None:
    """Copy every unexpired revocation into the cache, the "complete" marker last."""
    try:
        if not store.add(REBUILD_LOCK_KEY, "1", REBUILD_LOCK_SECONDS):
            return  # another worker is rebuilding; until then the database answers
        now = clock.now()
        rows = db.session.execute(
            db.select(RevokedAccessToken.jti, RevokedAccessToken.expires_at).where(
                RevokedAccessToken.expires_at > datetime.fromtimestamp(now, UTC)
            )
        ).all()
        items = [(KEY_PREFIX + jti, "1", _ttl(exp.timestamp(), now)) for jti, exp in rows]
        store.put_many(
            [
                *items,
                (COMPLETE_KEY, "1", COMPLETE_TTL_SECONDS),
                (FRESH_KEY, "1", REBUILD_EVERY_SECONDS),
            ]
        )
        store.delete(REBUILD_LOCK_KEY)
        log.info("revocation cache rebuilt from the database (%d entries)", len(items))
    except StoreUnavailable as exc:
        log.warning("revocation cache not rebuilt: %s", exc)


def _recorded(jti: str) -> bool:
    row = db.session.execute(
        db.select(RevokedAccessToken.expires_at).where(RevokedAccessToken.jti == jti)
    ).first()
    return row is not None


def _ttl(exp: float, now: float) -> int:
    return max(1, math.ceil(exp - now))


def _cache(store, entries: list[tuple[str, float]]) -> None:
    """Write committed revocations (and earlier failed ones) to the cache; never raises."""
    with _unsynced_lock:
        entries = [*_unsynced, *entries]
        _unsynced.clear()
    now = clock.now()
    live = [(KEY_PREFIX + jti, "1", _ttl(exp, now)) for jti, exp in entries if exp > now]
    if not live:
        return
    try:
        store.put_many(live)
    except StoreUnavailable as exc:
        log.warning("revocation cache not updated yet (%d entries): %s", len(live), exc)
        with _unsynced_lock:
            _unsynced[:0] = [e for e in entries if e[1] > now][-MAX_UNSYNCED:]
        # Other workers must not trust the cache meanwhile (Redis may refuse writes, e.g.
        # out of memory, yet accept DEL): without the marker they ask the database.
        with contextlib.suppress(StoreUnavailable):
            store.delete(COMPLETE_KEY)
