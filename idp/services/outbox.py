"""Side effects that must survive a crash, committed with the change and drained by any worker.

What goes in, each row written with `db.session` in the transaction of the change it follows
(a rollback drops it, a commit makes it durable before the response is sent):

- `audit`: routine, high-volume audit rows (client_credentials tokens, refresh rotations),
  moved into audit_events in batches: the outbox is the batch;
- `mail`: a message to render and send (sealed: it may hold a single-use link);
- `backchannel_logout`: a logout token to sign and POST to a client;
- `account_job`: account work done after the response, so its time does not show (sealed).

Who drains (`drain()`): with IDP_OUTBOX_DRAIN=web (the default) each web worker, after a
response has been sent (the WSGI close), when the request queued a delivery, when its last
drain is IDP_AUDIT_BATCH_SECONDS old (audit rows) or a second old (deliveries due, retries);
reading the audit log through idp; each worker at a graceful exit (SIGTERM); and `idp worker`,
the optional process that drains in a loop (IDP_OUTBOX_DRAIN=worker leaves it all to it).

Any number of drains may run at once: on PostgreSQL each takes its rows with
`FOR UPDATE SKIP LOCKED`; SQLite has one writer, and every step is one short write
transaction (a single statement claims the rows), never held across a delivery.

Guarantees: an audit row is moved exactly once (its delete and its insert share a
transaction). A delivery is at least once: a drain claims a row by moving `available_at`
past a lease and counting the attempt, delivers outside any transaction, then deletes the
row; a drain killed mid-delivery leaves the row to be claimed again when the lease ends.
A failure retries after the kind's backoff, kept in the row, so retries survive restarts.
"""

from __future__ import annotations

import atexit
import base64
import json
import logging
import multiprocessing.util
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from functools import lru_cache
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import Flask, current_app, g, has_app_context
from sqlalchemy.exc import DBAPIError

from ..extensions import db
from ..models import AuditEvent, OutboxMessage
from ..models.base import utcnow

log = logging.getLogger("idp.outbox")

AUDIT = "audit"
AUDIT_BATCH_ROWS = 500  # audit rows moved per transaction
CLAIM_ROWS = 10  # deliveries claimed at once (each may take seconds)
LEASE_SECONDS = 120  # a claimed delivery is due again after this if its drain died
DELIVERY_POLL_SECONDS = 1.0  # a web worker looks for due deliveries (retries) this often
EXIT_BUDGET_SECONDS = 10.0  # at a graceful exit, stop delivering after this long
_TABLE = OutboxMessage.__table__
_INSERT = _TABLE.insert()  # constant: compiled and cached once
_AUDIT_INSERT = AuditEvent.__table__.insert()
_URGENT = "idp_outbox_urgent"


class RetryLater(Exception):
    """The delivery failed but may succeed later; the message is safe to log."""


class GiveUp(Exception):
    """The delivery can never succeed (refused by policy, target gone); safe to log."""


@dataclass(frozen=True)
class Kind:
    """How one kind of message is delivered."""

    deliver: Callable[[dict[str, Any], int], None]  # (payload, attempt); raise to fail
    delays: tuple[float, ...]  # seconds before attempt 2, 3, ...; when spent, give up
    on_success: Callable[[dict[str, Any], int], None] | None = None  # in the delete's txn
    on_give_up: Callable[[dict[str, Any], int, str], None] | None = None
    sealed: bool = False  # payload encrypted at rest (links, password hashes)
    # True: deliver() only writes to the database, in the transaction that deletes the row
    # (exactly once). False: it talks to the outside world, outside any transaction.
    transactional: bool = False


_KINDS: dict[str, Kind] = {}


def register(name: str, kind: Kind) -> None:
    """Declare a kind of message (at import of the service that owns it)."""
    _KINDS[name] = kind


def enqueue(kind: str, payload: dict[str, Any], user_id=None) -> None:
    """Stage a message in the current transaction; the use case commits it."""
    spec = _KINDS.get(kind)
    if spec is None and kind != AUDIT:
        raise ValueError(f"unknown outbox kind {kind!r}")
    now = utcnow()
    db.session.execute(
        _INSERT,
        {
            "kind": kind,
            "created_at": now,
            "available_at": now,
            "attempts": 0,
            "last_error": "",
            "user_id": user_id,
            "payload": _seal(payload) if spec is not None and spec.sealed else payload,
        },
    )
    if spec is not None and has_app_context():
        setattr(g, _URGENT, True)  # deliver right after this response


# -- sealing ------------------------------------------------------------------------------


@lru_cache(maxsize=4)
def _aead(secret_key: str) -> AESGCM:
    key = HKDF(hashes.SHA256(), 32, salt=None, info=b"idp outbox v1").derive(secret_key.encode())
    return AESGCM(key)


def _seal(payload: dict[str, Any]) -> dict[str, str]:
    nonce = os.urandom(12)
    sealed = _aead(current_app.config["SECRET_KEY"]).encrypt(
        nonce, json.dumps(payload).encode(), b"outbox"
    )
    return {"sealed": base64.b64encode(nonce + sealed).decode()}


def _unseal(stored: dict[str, Any]) -> dict[str, Any]:
    raw = base64.b64decode(stored["sealed"])
    try:
        plain = _aead(current_app.config["SECRET_KEY"]).decrypt(raw[:12], raw[12:], b"outbox")
    except InvalidTag:
        raise GiveUp("sealed with another IDP_SECRET_KEY") from None
    return json.loads(plain)


# -- draining -----------------------------------------------------------------------------


def drain(budget_seconds: float = 30.0, audit: bool = True, deliveries: bool = True) -> dict:
    """Move queued audit rows, then run due deliveries until none is due or the budget is
    spent; return counts. Needs an app context; commits its own short transactions."""
    counts = {"audit": 0, "delivered": 0, "retried": 0, "failed": 0}
    while audit:
        moved = move_audit_rows()
        counts["audit"] += moved
        if moved < AUDIT_BATCH_ROWS:
            break
    deadline = time.monotonic() + budget_seconds
    while deliveries and time.monotonic() < deadline:
        claimed = _claim()
        if not claimed:
            break  # (a delivery may stage another, as an account job stages its mail)
        for row in claimed:
            counts[_run(row)] += 1
    return counts


def move_audit_rows() -> int:
    """Move up to AUDIT_BATCH_ROWS queued audit rows into audit_events, in one transaction."""
    batch = (
        db.select(_TABLE.c.id)
        .where(_TABLE.c.kind == AUDIT)
        .order_by(_TABLE.c.id)
        .limit(AUDIT_BATCH_ROWS)
        .with_for_update(skip_locked=True)  # SQLite: no clause; its one writer serialises
    )
    try:
        taken = db.session.execute(
            _TABLE.delete().where(_TABLE.c.id.in_(batch)).returning(_TABLE.c.payload)
        ).scalars()
        rows = [audit_row(payload) for payload in taken]
        if rows:
            db.session.execute(_AUDIT_INSERT, rows)
        db.session.commit()
    except DBAPIError as exc:
        db.session.rollback()
        log.error("audit rows not moved yet, will retry: %s", type(exc).__name__)
        return 0
    return len(rows)


def audit_row(payload: dict[str, Any]) -> dict[str, Any]:
    """An audit_events row from its outbox payload (see audit.record)."""
    from datetime import datetime
    from uuid import UUID

    user_id = payload.get("user_id")
    return {
        "occurred_at": datetime.fromisoformat(payload["occurred_at"]),
        "event_type": payload["event_type"],
        "user_id": UUID(user_id) if user_id else None,
        "client_id": payload.get("client_id"),
        "ip": payload.get("ip", ""),
        "user_agent": payload.get("user_agent", ""),
        "details": payload.get("details", {}),
    }


def _claim() -> list[Any]:
    """Take due deliveries for a lease, counting the attempt; one statement, committed."""
    if not _KINDS:
        return []
    now = utcnow()
    due = (
        db.select(_TABLE.c.id)
        .where(_TABLE.c.kind.in_(list(_KINDS)), _TABLE.c.available_at <= now)
        .order_by(_TABLE.c.available_at, _TABLE.c.id)
        .limit(CLAIM_ROWS)
        .with_for_update(skip_locked=True)
    )
    try:
        claimed = db.session.execute(
            _TABLE.update()
            # Checked again on the locked row: a drain that waited sees the new lease.
            .where(_TABLE.c.id.in_(due), _TABLE.c.available_at <= now)
            .values(
                available_at=now + timedelta(seconds=LEASE_SECONDS),
                attempts=_TABLE.c.attempts + 1,
            )
            .returning(_TABLE.c.id, _TABLE.c.kind, _TABLE.c.payload, _TABLE.c.attempts)
        ).all()
        db.session.commit()
    except DBAPIError as exc:
        db.session.rollback()
        log.error("outbox not drained, will retry: %s", type(exc).__name__)
        return []
    return claimed


def _run(row) -> str:
    """Deliver one claimed row; return "delivered", "retried" or "failed"."""
    spec = _KINDS[row.kind]
    where = _TABLE.c.id == row.id
    payload = None
    try:
        payload = _unseal(row.payload) if spec.sealed else row.payload
        if spec.transactional:
            db.session.execute(_TABLE.delete().where(where))  # commits with deliver()'s work
            spec.deliver(payload, row.attempts)
        else:
            spec.deliver(payload, row.attempts)
            db.session.rollback()  # end any read it made before writing below
            db.session.execute(_TABLE.delete().where(where))
        if spec.on_success is not None:
            spec.on_success(payload, row.attempts)
        db.session.commit()
        return "delivered"
    except GiveUp as exc:
        reason, give_up = str(exc), True
    except RetryLater as exc:
        reason, give_up = str(exc), False
    except Exception as exc:  # noqa: BLE001 - a failed job must not stop the drain
        log.exception("outbox %s delivery failed", row.kind, extra={"event": "outbox_error"})
        reason, give_up = type(exc).__name__, False
    db.session.rollback()
    reason = reason[:200]
    try:
        if give_up or row.attempts > len(spec.delays):
            db.session.execute(_TABLE.delete().where(where))
            if spec.on_give_up is not None and payload is not None:
                spec.on_give_up(payload, row.attempts, reason)
            log.warning(
                "outbox %s given up after %d attempts: %s",
                row.kind,
                row.attempts,
                reason,
                extra={"event": "outbox_given_up"},
            )
            db.session.commit()
            return "failed"
        delay = spec.delays[row.attempts - 1]
        db.session.execute(
            _TABLE.update()
            .where(where)
            .values(available_at=utcnow() + timedelta(seconds=delay), last_error=reason)
        )
        db.session.commit()
    except DBAPIError as exc:  # the lease brings the row back
        db.session.rollback()
        log.error("outbox row %d not updated: %s", row.id, type(exc).__name__)
    return "retried"


def pending(kinds: tuple[str, ...] | None = None) -> int:
    """How many rows wait (of these kinds); for tests, `idp worker --once` and operators."""
    statement = db.select(db.func.count()).select_from(_TABLE)
    if kinds:
        statement = statement.where(_TABLE.c.kind.in_(kinds))
    return db.session.execute(statement).scalar_one()


def wait_until_delivered(timeout: float = 15.0) -> None:
    """Drain until no delivery is queued, retries included (tests; `idp worker --once`)."""
    deadline = time.monotonic() + timeout
    while True:
        drain(budget_seconds=max(deadline - time.monotonic(), 0.1))
        left = pending(tuple(_KINDS)) + pending((AUDIT,))
        db.session.rollback()
        if not left:
            return
        if time.monotonic() >= deadline:
            raise TimeoutError(f"{left} outbox rows still queued")
        time.sleep(0.05)


def blank_user_rows(user_id) -> int:
    """Blank IP and user agent in the user's queued audit rows (account deletion, purge);
    the caller commits."""
    rows = db.session.execute(
        db.select(_TABLE.c.id, _TABLE.c.payload)
        .where(_TABLE.c.kind == AUDIT, _TABLE.c.user_id == user_id)
        .with_for_update()
    ).all()
    changed = 0
    for row_id, payload in rows:
        if payload.get("ip") or payload.get("user_agent"):
            db.session.execute(
                _TABLE.update()
                .where(_TABLE.c.id == row_id)
                .values(payload={**payload, "ip": "", "user_agent": ""})
            )
            changed += 1
    return changed


# -- when web workers drain ---------------------------------------------------------------


class WebDrainer:
    """Drains after responses in a web worker, and at its graceful exit: no thread of its own.

    The work runs in the request's thread once the response was sent (WSGI close), so it
    adds nothing to the response's time; one drain at a time per process.
    """

    def __init__(self, app: Flask) -> None:
        config = app.config["IDP"]
        self.app = app
        self.enabled = config.outbox_drain == "web"
        self.audit_seconds = max(config.audit_batch_seconds, DELIVERY_POLL_SECONDS)
        self._lock = threading.Lock()
        self._again = False
        # 0: the first request of a process drains what an earlier one left behind.
        self._last_audit = self._last_delivery = 0.0
        self._pid: int | None = None
        self._finalizer: multiprocessing.util.Finalize | None = None

    def after_request(self, response):
        if not self.enabled:
            return response
        now = time.monotonic()
        if (
            g.pop(_URGENT, False)
            or now - self._last_delivery >= DELIVERY_POLL_SECONDS
            or now - self._last_audit >= self.audit_seconds
        ):
            response.call_on_close(self.drain_now)
        return response

    def drain_now(self) -> None:
        """Drain in this thread unless another thread of the process is draining."""
        if not self._lock.acquire(blocking=False):
            self._again = True  # the running drain goes round once more for our rows
            return
        try:
            self._watch_exit()
            while True:
                self._again = False
                now = time.monotonic()
                audit_due = now - self._last_audit >= self.audit_seconds
                self._last_delivery = now
                if audit_due:
                    self._last_audit = now
                self._drain(audit=audit_due)
                if not self._again:
                    break
        finally:
            self._lock.release()

    def _drain(self, audit: bool, budget_seconds: float = 30.0) -> None:
        with self.app.app_context():
            try:
                drain(budget_seconds=budget_seconds, audit=audit)
            except Exception:  # noqa: BLE001 - after the response: log, never raise
                db.session.rollback()
                log.exception("outbox drain failed", extra={"event": "outbox_error"})

    def _watch_exit(self) -> None:
        """At a graceful exit of this process (after gunicorn's or granian's fork), drain."""
        pid = os.getpid()
        if self._pid == pid:
            return
        self._pid = pid
        atexit.register(self.close)
        # A forked multiprocessing child (granian's workers) leaves through os._exit, which
        # skips atexit; multiprocessing runs its own finalizers first.
        self._finalizer = multiprocessing.util.Finalize(None, self.close, exitpriority=10)

    def close(self, flush: bool = True) -> None:
        """Drain what is due once more (graceful exit); stop watching for the exit."""
        atexit.unregister(self.close)
        finalizer, self._finalizer = self._finalizer, None
        if finalizer is not None:
            finalizer.cancel()
        if flush and self._pid == os.getpid():
            self._pid = None
            with self._lock:
                self._drain(audit=True, budget_seconds=EXIT_BUDGET_SECONDS)


def init_app(app: Flask) -> None:
    # The services that own each kind register it at import.
    from . import accounts, backchannel, mail  # noqa: F401

    app.extensions["idp.outbox"] = WebDrainer(app)
    app.after_request(_after_request)


def reset(app: Flask) -> None:
    """Replace the app's drainer with a new one (tests reuse one app as if it were new)."""
    app.extensions["idp.outbox"].close(flush=False)
    app.extensions["idp.outbox"] = WebDrainer(app)


def _after_request(response):
    return current_app.extensions["idp.outbox"].after_request(response)
