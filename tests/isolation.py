"""What a test leaves behind, and how the fixtures take it away (see tests/README.md).

Building an app costs more than most tests (its key files are parsed, its routes compiled),
so the `app` fixture hands every test the same app of the run, put back as new between
tests: the rows every test wrote are deleted, its store keys and rate-limit counters go,
its caches and background writers start empty, and the clock is real time again. Apps a
test builds itself (`make_app`) are thrown away after it, as before.
"""

from __future__ import annotations

import contextlib

from argon2 import PasswordHasher
from flask import Flask
from sqlalchemy import create_engine, delete
from sqlalchemy.engine import Engine

from idp import clock
from idp.extensions import db
from idp.store import StoreUnavailable, create_store


def rows_engine(database_url: str) -> Engine:
    """One engine of the run that deletes the rows tests wrote (any app's, any process's)."""
    from idp.config import normalise_database_url

    # pre_ping: tests terminate every connection to the database to simulate a restart.
    return create_engine(normalise_database_url(database_url), pool_pre_ping=True)


def delete_rows(engine: Engine) -> None:
    """Empty every table, children first, in one transaction: the schema stays migrated."""
    with engine.begin() as connection:
        for table in reversed(db.metadata.sorted_tables):
            connection.execute(delete(table))


def delete_redis_keys(redis_url: str, prefix: str) -> None:
    """Remove this run's keys: the store's (`<prefix>…`) and Flask-Limiter's
    (`LIMITS:LIMITER/<prefix>…`). Only our prefix: the Redis may be shared."""
    if not redis_url:
        return
    from idp.store import redis_client

    client = redis_client(redis_url)
    try:
        for pattern in (f"{prefix}*", f"LIMITS:LIMITER/{prefix}*"):
            keys = list(client.scan_iter(match=pattern, count=1000))
            for key in keys:  # one by one: on Redis Cluster keys live on different nodes
                client.delete(key)
    finally:
        client.close()


def stop_background_writers(app: Flask) -> None:
    """Stop the app's outbox drainer from draining at exit: its rows are deleted with the
    rest, and a drain at the end of the run would find another test's rows. Anything else an
    app runs in the background belongs here too, and its restart in reset_shared_app."""
    drainer = app.extensions.get("idp.outbox")
    if drainer is not None:
        drainer.close(flush=False)


def reset_shared_app(app: Flask) -> None:
    """Put the run's shared app back as a new app would start (after its rows are gone)."""
    from idp.services import client_cache, outbox

    outbox.reset(app)  # a fresh drainer: the next test's first response drains, as in a new app
    client_cache.init_app(app)
    settings = app.config["IDP"]
    if not settings.redis_url:  # Redis keys are deleted by prefix, for every app at once
        app.extensions["idp.store"] = create_store("", settings.redis_prefix)
    for limiter in app.extensions.get("limiter", ()):
        if not settings.redis_url:
            limiter.reset()  # memory storage; on Redis `reset` would delete others' keys too


def discard_app(app: Flask) -> None:
    """Release an app a test built: its Redis connections and database pool."""
    store = app.extensions["idp.store"]
    if hasattr(store, "close"):
        with contextlib.suppress(StoreUnavailable):  # an app pointed at a dead Redis
            store.close()
    for limiter in app.extensions.get("limiter", ()):
        pool = getattr(getattr(limiter.storage, "storage", None), "connection_pool", None)
        if pool is not None:  # Redis storage; memory storage holds no sockets
            pool.disconnect()
    with app.app_context():
        db.engine.dispose()


class TestWorld:
    """The apps one test used; `clean()` runs once after it, whichever fixtures it took."""

    __test__ = False  # not a test class, despite the name

    def __init__(self, settings: dict, engine: Engine) -> None:
        self.settings = settings
        self.engine = engine
        self.built: list[Flask] = []
        self.shared: list[Flask] = []

    def share(self, app: Flask) -> Flask:
        """Use an app that outlives the test: it is reset, not discarded, afterwards."""
        if app not in self.shared:
            self.shared.append(app)
        return app

    def clean(self) -> None:
        clock.reset()
        for app in [*self.built, *self.shared]:
            stop_background_writers(app)
        delete_rows(self.engine)
        delete_redis_keys(self.settings["redis_url"], self.settings["redis_prefix"])
        for app in self.shared:
            reset_shared_app(app)
        for app in self.built:
            discard_app(app)


# argon2 at idp's parameters costs about 20 ms of CPU per hash and per sign-in: most of
# some tests. Tests hash with the smallest parameters argon2 allows; the tests about the
# hash itself or about its cost (`production_password_hashing`) use idp's own.
CHEAP_PASSWORD_HASHER = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


def use_password_hasher(hasher: PasswordHasher) -> None:
    """Hash, verify and answer unknown emails with `hasher` (the dummy hash too, so a known
    and an unknown email still cost the same)."""
    from idp.services import users

    users.password_hasher = hasher
    users._DUMMY_HASH = hasher.hash("not-a-real-password-dummy-for-timing")
