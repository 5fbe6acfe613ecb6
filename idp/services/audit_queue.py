"""Audit rows written in batches, for routine, high-volume events.

A client_credentials request writes nothing but its `tokens_issued` row; an INSERT and a
COMMIT (with its WAL flush) of its own cost that request more than signing the token, and a
rotation's `refresh_rotated` row was one more round trip of four. Such rows wait here, in
the worker process, and a background thread writes them in one multi-row INSERT every
IDP_AUDIT_BATCH_SECONDS (0 writes each in its request, as before).

What can be lost: rows still queued when a worker dies without exiting (SIGKILL, OOM),
at most one interval's worth; every event is also logged synchronously on the idp.security
logger. A normal exit (a graceful stop of gunicorn or granian, SIGTERM) writes the queue
first: atexit, and multiprocessing's exit finalizers for granian's forked workers. Reading
the log through idp (CLI, admin API) writes the queue first too, so a read sees every event
its process has recorded.
"""

from __future__ import annotations

import atexit
import logging
import multiprocessing.util
import os
import threading
from typing import Any

from sqlalchemy.exc import DBAPIError, OperationalError

from ..extensions import db
from ..models import AuditEvent

log = logging.getLogger("idp.security")

MAX_QUEUED_ROWS = 50_000  # beyond this (database unreachable for long) the oldest are dropped
FLUSH_AT_ROWS = 500


class AuditQueue:
    """Rows for audit_events, written by a daemon thread of the process that queued them."""

    def __init__(self, app, interval_seconds: float) -> None:
        self.app = app
        self.interval_seconds = interval_seconds
        self._rows: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._pid: int | None = None
        self._thread: threading.Thread | None = None
        self._closed = False
        self._finalizer: multiprocessing.util.Finalize | None = None

    def add(self, row: dict[str, Any]) -> None:
        if self._closed:
            raise RuntimeError("audit queue closed")
        self._ensure_thread()
        with self._lock:
            self._rows.append(row)
            if len(self._rows) > MAX_QUEUED_ROWS:
                dropped = len(self._rows) - MAX_QUEUED_ROWS
                del self._rows[:dropped]
                log.error("audit queue full: %d oldest rows dropped", dropped)
            full = len(self._rows) >= FLUSH_AT_ROWS
        if full:
            self._wake.set()

    def flush(self) -> int:
        """Write what is queued now; returns how many rows were written."""
        with self._lock:
            rows, self._rows = self._rows, []
        if not rows:
            return 0
        try:
            with self.app.app_context(), db.engine.begin() as connection:
                connection.execute(AuditEvent.__table__.insert(), rows)
        except DBAPIError as exc:
            if not exc.connection_invalidated and not isinstance(exc, OperationalError):
                # Not the database being away: retrying the same rows would fail forever.
                log.exception("audit rows dropped (%d rows; each was logged)", len(rows))
                return 0
            log.error("audit rows not written yet, will retry (%d rows): %s", len(rows), exc)
            with self._lock:
                self._rows[:0] = rows
            return 0
        return len(rows)

    def _ensure_thread(self) -> None:
        """Start the writer in this process (after gunicorn's fork, not in the master)."""
        pid = os.getpid()
        if self._pid == pid:
            return
        with self._lock:
            if self._pid == pid:
                return
            self._rows = []
            self._pid = pid
            self._thread = threading.Thread(target=self._run, name="idp-audit-writer", daemon=True)
            self._thread.start()
        atexit.register(self.close)
        # A forked multiprocessing child (granian's workers) leaves through os._exit, which
        # skips atexit; multiprocessing runs its own finalizers first.
        self._finalizer = multiprocessing.util.Finalize(None, self.close, exitpriority=10)

    def close(self) -> None:
        """Stop the writer and write what is left (at exit, and when an app is discarded)."""
        self._closed = True
        self._wake.set()
        thread = self._thread
        if thread is not None and thread.is_alive() and thread is not threading.current_thread():
            thread.join(timeout=10)
        self.flush()
        atexit.unregister(self.close)
        finalizer = self._finalizer
        if finalizer is not None:
            finalizer.cancel()

    def _run(self) -> None:
        while not self._closed:
            self._wake.wait(self.interval_seconds)
            self._wake.clear()
            self.flush()


def init_app(app) -> None:
    seconds = app.config["IDP"].audit_batch_seconds
    app.extensions["idp.audit_queue"] = AuditQueue(app, seconds) if seconds > 0 else None
