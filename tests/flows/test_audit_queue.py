"""Routine, high-volume audit rows (client_credentials tokens, refresh rotations) are queued
per process and written in batches; nothing is lost on a read, a timer or a graceful exit."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests
from sqlalchemy import text

from idp.extensions import db
from idp.models import AuditEvent
from idp.models.base import utcnow
from idp.services import admin, housekeeping, users

from ..conftest import REDIRECT_URI, make_client
from ..helpers import Browser
from .tokens import login_tokens, refresh

ROOT = Path(__file__).resolve().parents[2]


def _issue(client, service):
    response = client.post(
        "/token",
        data={"grant_type": "client_credentials"},
        auth=(service.client_id, service.plain_secret),
    )
    assert response.status_code == 200, response.get_json()


def _stored(app, event_type: str = "tokens_issued") -> int:
    """Rows in the table, read the way another process would: no flush first."""
    with app.app_context(), db.engine.connect() as connection:
        return connection.execute(
            text("SELECT count(*) FROM audit_events WHERE event_type = :type"),
            {"type": event_type},
        ).scalar_one()


def _service(app):
    return make_client(app, "Billing", [], grant_types=["client_credentials"], scope="orders")


def test_reading_the_log_through_idp_includes_queued_rows(make_app):
    app = make_app(audit_batch_seconds=60)
    client = app.test_client()
    service = _service(app)
    _issue(client, service)
    ops = make_client(app, "Ops", [], grant_types=["client_credentials"], scope="idp:admin")
    token = client.post(
        "/token", data={"grant_type": "client_credentials"}, auth=(ops.client_id, ops.plain_secret)
    ).get_json()["access_token"]
    events = client.get(
        "/admin/api/audit?type=tokens_issued", headers={"Authorization": f"Bearer {token}"}
    ).get_json()["events"]
    assert service.client_id in {event["client_id"] for event in events}


def test_queued_rows_are_written_within_the_interval(make_app):
    app = make_app(audit_batch_seconds=1)
    client = app.test_client()
    service = _service(app)
    for _ in range(3):
        _issue(client, service)
    deadline = time.monotonic() + 10
    while _stored(app) < 3 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _stored(app) == 3


def test_with_batching_off_the_request_writes_its_row(make_app):
    app = make_app(audit_batch_seconds=0)
    client = app.test_client()
    _issue(client, _service(app))
    assert _stored(app) == 1


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_a_gunicorn_worker_writes_its_queue_when_it_stops(make_app, settings, tmp_path):
    """SIGTERM is how deployments stop idp: the queued rows must reach the table."""
    app = make_app()  # the test's own database, cleaned up by the fixture
    service = _service(app)
    port = _free_port()
    issuer = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "DATABASE_URL": settings["database_url"],
        "REDIS_URL": settings["redis_url"],
        "IDP_REDIS_PREFIX": settings["redis_prefix"],
        "IDP_KEYS_DIR": settings["keys_dir"],
        "IDP_ISSUER": issuer,
        "IDP_SECRET_KEY": settings["secret_key"],
        "IDP_AUDIT_BATCH_SECONDS": "3600",  # only the exit can write the row
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path),
        "IDP_LOG_LEVEL": "WARNING",
    }
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "--workers",
            "1",
            "--bind",
            f"127.0.0.1:{port}",
            "--graceful-timeout",
            "20",
            "--no-control-socket",
            "wsgi:app",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if requests.get(f"{issuer}/healthz", timeout=5).status_code == 200:
                    break
            except requests.RequestException:  # not listening yet, or the worker still booting
                pass
            assert server.poll() is None and time.monotonic() < deadline, "gunicorn did not start"
            time.sleep(0.2)
        response = requests.post(
            f"{issuer}/token",
            data={"grant_type": "client_credentials"},
            auth=(service.client_id, service.plain_secret),
            timeout=10,
        )
        assert response.status_code == 200, response.text
        assert _stored(app) == 0
    finally:
        server.send_signal(signal.SIGTERM)
        _, errors = server.communicate(timeout=30)
    assert server.returncode == 0, errors.decode()[-2000:]
    assert _stored(app) == 1


def _rotation_rows(app) -> list[tuple[str, str]]:
    with app.app_context(), db.engine.connect() as connection:
        return [
            tuple(row)
            for row in connection.execute(
                text("SELECT ip, user_agent FROM audit_events WHERE event_type = 'refresh_rotated'")
            )
        ]


def test_deleting_a_user_erases_their_queued_rows_too(make_app, user):
    app = make_app(audit_batch_seconds=3600)  # the rotation's row is still queued
    client = app.test_client()
    rp = make_client(app, "Notes", [REDIRECT_URI], scope="openid offline_access")
    tokens = login_tokens(Browser(app.test_client()), client, rp, scope="openid offline_access")
    assert refresh(client, rp, tokens["refresh_token"]).status_code == 200
    ops = make_client(app, "Ops", [], grant_types=["client_credentials"], scope="idp:admin")
    token = client.post(
        "/token", data={"grant_type": "client_credentials"}, auth=(ops.client_id, ops.plain_secret)
    ).get_json()["access_token"]
    deleted = client.delete(
        f"/admin/api/users/{user.id}", headers={"Authorization": f"Bearer {token}"}
    )
    assert deleted.status_code == 204
    assert _rotation_rows(app) == [("", "")]


def test_purge_erases_rows_another_worker_wrote_after_a_deletion(make_app, user):
    """Another worker's queue may write a deleted user's rotation after the deletion."""
    app = make_app()
    with app.app_context():
        admin.delete_user(users.get_user_by_subject(str(user.id)), actor="test")
        with db.engine.begin() as connection:
            # As the queue writes it: the table's insert binds the UUID for each dialect.
            connection.execute(
                AuditEvent.__table__.insert(),
                [
                    {
                        "occurred_at": utcnow(),
                        "event_type": "refresh_rotated",
                        "user_id": user.id,
                        "client_id": "rp",
                        "ip": "203.0.113.7",
                        "user_agent": "Late/1.0",
                        "details": {},
                    }
                ],
            )
        assert housekeeping.purge()["audit_events_pseudonymised"] == 1
    assert _rotation_rows(app) == [("", "")]
