"""Client rows for the protocol endpoints, kept per process for a few seconds.

Every token, revocation and introspection request authenticates a client, and reading its
row was a third of a client_credentials request's cost. Rows are kept for
IDP_CLIENT_CACHE_SECONDS (0 turns the cache off) as detached, fully loaded objects that the
protocol code only reads (attaching them to each request's session with merge() cost 7% of a
client_credentials request). Code that changes a client reads it with
clients.find_client instead. (This module imports nothing of services.clients, which
calls forget() here after each change.)

A change made through idp (admin API, console, CLI, RFC 7592) drops the entry in the process
that made it at once; other worker processes see it within the TTL. Unknown client ids are
never cached, so a flood of made-up ids cannot fill the cache.
"""

from __future__ import annotations

import threading

from flask import current_app
from sqlalchemy.orm import Session

from .. import clock
from ..extensions import db
from ..models import Client

MAX_ENTRIES = 10_000
MAX_CLIENT_ID_LENGTH = 48


class ClientCache:
    """client_id -> (loaded at, detached Client), read-through, time-limited."""

    def __init__(self, ttl_seconds: int) -> None:
        self.ttl_seconds = ttl_seconds
        self._entries: dict[str, tuple[float, Client]] = {}
        self._lock = threading.Lock()

    def get(self, client_id: str) -> Client | None:
        """The cached, detached client (read-only), or None if there is none."""
        now = clock.now()
        entry = self._entries.get(client_id)
        # A clock that went back counts as expired too.
        if entry is None or not 0 <= now - entry[0] < self.ttl_seconds:
            detached = self._load(client_id)
            if detached is None:
                self.forget(client_id)
                return None
            with self._lock:
                if len(self._entries) >= MAX_ENTRIES:
                    self._entries.clear()
                self._entries[client_id] = (now, detached)
            return detached
        return entry[1]

    def forget(self, client_id: str) -> None:
        with self._lock:
            self._entries.pop(client_id, None)

    @staticmethod
    def _load(client_id: str) -> Client | None:
        """Read the row in a session of its own, so the copy kept is never expired by a
        commit of the request's session."""
        with Session(db.engine, expire_on_commit=False) as session:
            client = session.scalars(db.select(Client).filter_by(client_id=client_id)).first()
            if client is not None:
                session.expunge(client)
            return client


def init_app(app) -> None:
    app.extensions["idp.client_cache"] = ClientCache(app.config["IDP"].client_cache_seconds)


def cached_client(client_id: str | None) -> Client | None:
    """Authlib's query_client: the registered client with this id, through the cache."""
    if not client_id or not isinstance(client_id, str) or len(client_id) > MAX_CLIENT_ID_LENGTH:
        return None
    cache: ClientCache = current_app.extensions["idp.client_cache"]
    if cache.ttl_seconds <= 0:  # in the request's session, like clients.find_client
        return db.session.execute(
            db.select(Client).filter_by(client_id=client_id)
        ).scalar_one_or_none()
    return cache.get(client_id)


def forget(client_id: str) -> None:
    """Drop a client this process changed, so its next request reads the new row."""
    cache: ClientCache | None = current_app.extensions.get("idp.client_cache")
    if cache is not None:
        cache.forget(client_id)
