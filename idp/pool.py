"""Connection checks at pool checkout: cheap for every connection, a ping for idle ones.

SQLAlchemy's pool_pre_ping sends a ping at every checkout: one more round trip per request
(about 5% of a refresh). Instead, through the pool's documented mechanism (a checkout
listener that raises DisconnectionError makes the pool drop the connection and hand out a
fresh one):

- every checkout polls the connection's socket without waiting (a system call, no round
  trip): an idle connection has nothing to read, so a readable socket means the server
  closed it or said goodbye (a restart sends "terminating connection" and closes). After a
  database restart, no request fails on a connection of the old server.
- connections idle for more than PING_AFTER_IDLE_SECONDS are pinged as well, for what a
  poll cannot see (a server that vanished without closing, a firewall that dropped the flow).
"""

from __future__ import annotations

import select
import time

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DisconnectionError

PING_AFTER_IDLE_SECONDS = 10
_RETURNED_AT = "idp.returned_at"


def closed_by_server(dbapi_connection) -> bool:
    """True when the idle connection's socket has something to read (EOF or a goodbye)."""
    fileno = getattr(dbapi_connection, "fileno", None)
    if fileno is None or not hasattr(select, "poll"):  # SQLite: no socket; Windows: no poll
        return False
    try:
        poller = select.poll()
        poller.register(fileno(), select.POLLIN | select.POLLPRI)
        return bool(poller.poll(0))
    except Exception:  # noqa: BLE001 - a closed connection has no usable descriptor
        return True


def ping_idle_connections(engine: Engine) -> None:
    @event.listens_for(engine, "checkout")
    def check(dbapi_connection, record, _proxy) -> None:
        if closed_by_server(dbapi_connection):
            raise DisconnectionError("closed by the server")
        returned_at = record.info.get(_RETURNED_AT)
        if returned_at is None or time.monotonic() - returned_at < PING_AFTER_IDLE_SECONDS:
            return
        try:
            alive = engine.dialect.do_ping(dbapi_connection)
        except Exception as exc:  # noqa: BLE001 - whatever the driver raises, the connection is bad
            raise DisconnectionError(str(exc)) from exc
        if not alive:
            raise DisconnectionError("ping failed")

    @event.listens_for(engine, "checkin")
    def note_return(_dbapi_connection, record) -> None:
        record.info[_RETURNED_AT] = time.monotonic()


SQLITE_BUSY_TIMEOUT_MS = 15_000


def tune_sqlite(engine: Engine) -> None:
    """SQLite (the embedded default) in WAL mode: readers never wait for the writer, and a
    commit appends to the log instead of rewriting pages and a rollback journal with several
    fsyncs each (most of a client_credentials request's time, now that its audit row commits
    with it). synchronous=NORMAL: a commit survives the process being killed; only a power
    loss may drop the last commits. Writers queue (busy_timeout) instead of failing with
    "database is locked"."""
    if engine.dialect.name != "sqlite":
        return

    @event.listens_for(engine, "connect")
    def pragmas(dbapi_connection, _record) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")  # kept in the file; ignored in memory
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.close()
