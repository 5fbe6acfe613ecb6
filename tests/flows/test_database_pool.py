"""Pooled connections that sat idle are checked before a request uses them."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, text

from idp import pool
from idp.extensions import db


@pytest.fixture
def postgres_app(make_app, settings):
    if not settings["database_url"].startswith("postgresql"):
        pytest.skip("server-side connection termination needs Postgres; CI runs this on it")
    return make_app()


def _terminate_our_connections(app) -> int:
    """What a database restart or an idle timeout in a proxy does to pooled connections."""
    with app.app_context():
        url = db.engine.url
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            return connection.execute(
                text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            ).scalar_one()
    finally:
        admin.dispose()


def test_a_connection_dropped_while_idle_is_replaced_before_the_request_uses_it(
    postgres_app, monkeypatch
):
    client = postgres_app.test_client()
    assert client.get("/readyz").status_code == 200  # leaves a connection in the pool
    assert _terminate_our_connections(postgres_app) >= 1
    monkeypatch.setattr(pool, "PING_AFTER_IDLE_SECONDS", 0)  # it has now sat idle "long"
    assert client.get("/readyz").status_code == 200
