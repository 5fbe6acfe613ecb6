"""The outbox table: routine, high-volume audit rows (client_credentials tokens, refresh
rotations) commit with the change and are moved into audit_events in batches; mail and
account jobs are delivered from it after the response, retried with backoff kept in the
table; nothing is lost on a read, an interval, a graceful exit or a restart."""

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

from idp import clock
from idp.extensions import db
from idp.models import AuditEvent, OutboxMessage
from idp.models.base import utcnow
from idp.services import accounts, admin, audit, housekeeping, outbox, users

from ..conftest import REDIRECT_URI, USER_EMAIL, make_client
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


def _queued(app) -> int:
    """Audit rows still in the outbox table."""
    with app.app_context(), db.engine.connect() as connection:
        return connection.execute(
            text("SELECT count(*) FROM outbox WHERE kind = 'audit'")
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


def test_queued_rows_are_written_by_the_first_response_after_the_interval(make_app):
    app = make_app(audit_batch_seconds=1)
    client = app.test_client()
    service = _service(app)
    for _ in range(3):
        _issue(client, service)
    assert _stored(app) + _queued(app) == 3  # each committed with its token
    time.sleep(1.1)
    assert client.get("/healthz").status_code == 200  # any response, after it is sent
    assert (_stored(app), _queued(app)) == (3, 0)


def test_idp_worker_drains_what_web_workers_leave_to_it(make_app, settings):
    from click.testing import CliRunner

    from idp.cli import main

    app = make_app(outbox_drain="worker")
    client = app.test_client()
    _issue(client, _service(app))
    time.sleep(0.1)
    assert client.get("/healthz").status_code == 200
    assert (_stored(app), _queued(app)) == (0, 1)  # the web worker left it
    env = {
        "DATABASE_URL": settings["database_url"],
        "REDIS_URL": settings["redis_url"],
        "IDP_KEYS_DIR": settings["keys_dir"],
        "IDP_SECRET_KEY": settings["secret_key"],
        "IDP_ISSUER": settings["issuer"],
    }
    result = CliRunner().invoke(main, ["worker", "--once"], env=env)
    assert result.exit_code == 0, result.output
    assert '"audit": 1' in result.output
    assert (_stored(app), _queued(app)) == (1, 0)


def test_a_mail_retry_survives_a_restart(make_app, mailbox, user):
    """SMTP down: the failed attempt and its backoff are kept in the table, so another
    process (after a restart) retries when the backoff ends, and the link arrives."""
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    first = make_app(smtp_url=f"smtp://127.0.0.1:{closed}")
    with first.app_context():
        accounts.request_password_reset(USER_EMAIL)
        outbox.drain()  # the job runs, staging the mail; the mail fails
        (row,) = db.session.execute(db.select(OutboxMessage)).scalars()
        assert (row.kind, row.attempts) == ("mail", 1)
        assert "could not send mail" in row.last_error
        assert "token=" not in str(row.payload)  # the link is sealed at rest
    second = make_app(smtp_url=f"smtp://127.0.0.1:{mailbox.port}")
    with second.app_context():
        assert outbox.drain()["delivered"] == 0  # not before the backoff ends
        clock.advance(11)
        assert outbox.drain()["delivered"] == 1
        assert outbox.pending() == 0
    message = mailbox.wait_for(1)
    assert message["Subject"] == "Reset your password"
    assert "/password/reset?token=" in mailbox.link(message)


def test_with_batching_off_the_request_writes_its_row(make_app):
    app = make_app(audit_batch_seconds=0)
    client = app.test_client()
    _issue(client, _service(app))
    assert _stored(app) == 1


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_a_gunicorn_worker_writes_the_queued_rows_when_it_stops(make_app, settings, tmp_path):
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
    app = make_app(audit_batch_seconds=3600)  # the rotation's row stays in the outbox
    client = app.test_client()
    rp = make_client(app, "Notes", [REDIRECT_URI], scope="openid offline_access")
    tokens = login_tokens(Browser(app.test_client()), client, rp, scope="openid offline_access")
    assert refresh(client, rp, tokens["refresh_token"]).status_code == 200
    ops = make_client(app, "Ops", [], grant_types=["client_credentials"], scope="idp:admin")
    token = client.post(
        "/token", data={"grant_type": "client_credentials"}, auth=(ops.client_id, ops.plain_secret)
    ).get_json()["access_token"]
    assert _queued(app) >= 1 and _rotation_rows(app) == []  # still in the outbox
    headers = {"Authorization": f"Bearer {token}"}
    assert client.delete(f"/admin/api/users/{user.id}", headers=headers).status_code == 204
    events = client.get("/admin/api/audit?type=refresh_rotated", headers=headers).get_json()
    assert [(e["ip"], e["user_agent"]) for e in events["events"]] == [("", "")]
    assert _rotation_rows(app) == [("", "")]


def test_purge_erases_rows_another_worker_wrote_after_a_deletion(make_app, user):
    """A rotation in flight may stage a deleted user's row after the deletion; a drain
    then writes it."""
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
            # And one still in the outbox table.
            staged = {
                "occurred_at": utcnow().isoformat(),
                "event_type": "refresh_rotated",
                "user_id": str(user.id),
                "client_id": "rp",
                "ip": "203.0.113.8",
                "user_agent": "Later/1.0",
                "details": {},
            }
            connection.execute(
                OutboxMessage.__table__.insert(),
                [
                    {
                        "kind": "audit",
                        "created_at": utcnow(),
                        "available_at": utcnow(),
                        "attempts": 0,
                        "last_error": "",
                        "user_id": user.id,
                        "payload": staged,
                    }
                ],
            )
        assert housekeeping.purge()["audit_events_pseudonymised"] == 2
        audit.flush_queued()
    assert _rotation_rows(app) == [("", ""), ("", "")]


def test_concurrent_requests_and_drains_lose_nothing_and_fail_nothing(live_server):
    """Drains run in the server's threads after their responses, beside other requests'
    transactions (on SQLite, the single writer): every token answers and every row lands."""
    import threading

    app, issuer = live_server
    service = _service(app)
    failures = []

    def issue_many() -> None:
        with requests.Session() as http:
            for _ in range(15):
                response = http.post(
                    f"{issuer}/token",
                    data={"grant_type": "client_credentials"},
                    auth=(service.client_id, service.plain_secret),
                    timeout=30,
                )
                if response.status_code != 200:
                    failures.append(response.status_code)

    threads = [threading.Thread(target=issue_many) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    time.sleep(1.1)
    assert requests.get(f"{issuer}/healthz", timeout=10).status_code == 200
    deadline = time.monotonic() + 10
    while _stored(app) < 60 and time.monotonic() < deadline:
        time.sleep(0.1)  # the drain runs once the health check's response was sent
    assert (_stored(app), _queued(app)) == (60, 0)


def test_the_idp_worker_process_drains_in_a_loop_and_stops_on_sigterm(make_app, settings):
    app = make_app(outbox_drain="worker")
    client = app.test_client()
    service = _service(app)
    env = {
        **os.environ,
        "DATABASE_URL": settings["database_url"],
        "REDIS_URL": settings["redis_url"],
        "IDP_KEYS_DIR": settings["keys_dir"],
        "IDP_SECRET_KEY": settings["secret_key"],
        "IDP_ISSUER": settings["issuer"],
        "IDP_LOG_LEVEL": "WARNING",
    }
    worker = subprocess.Popen(
        [sys.executable, "-m", "idp.cli", "worker", "--interval", "0.1"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        _issue(client, service)
        _issue(client, service)
        deadline = time.monotonic() + 60  # the process imports and builds the app first
        while _stored(app) < 2 and time.monotonic() < deadline:
            assert worker.poll() is None, worker.stderr.read().decode()[-2000:]
            time.sleep(0.1)
        assert (_stored(app), _queued(app)) == (2, 0)
    finally:
        worker.send_signal(signal.SIGTERM)
        _, errors = worker.communicate(timeout=30)
    assert worker.returncode == 0, errors.decode()[-2000:]
