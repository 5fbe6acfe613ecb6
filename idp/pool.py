"""Connection checks at pool checkout, only for connections that sat idle.

SQLAlchemy's pool_pre_ping sends a ping at every checkout: one more round trip per request
(about 5% of a refresh). A connection that was in use less than PING_AFTER_IDLE_SECONDS ago
has just worked, so only connections idle for longer are pinged, through the pool's
documented mechanism: a checkout listener that raises DisconnectionError makes the pool drop
the connection and hand out a fresh one. If the server drops connections within that window
(a restart), the first request on each fails once; SQLAlchemy then recycles the worker's
whole pool.
"""

from __future__ import annotations

import time

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DisconnectionError

PING_AFTER_IDLE_SECONDS = 10
_RETURNED_AT = "idp.returned_at"


def ping_idle_connections(engine: Engine) -> None:
    @event.listens_for(engine, "checkout")
    def ping_if_idle(dbapi_connection, record, _proxy) -> None:
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
