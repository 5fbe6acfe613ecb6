"""`idp serve --production` (granian) and the gunicorn alternative, as real processes: they
start, answer, drain on SIGTERM (an in-flight request completes, queued audit rows reach
the table), and idle connections do not freeze the production server."""

from __future__ import annotations

import base64
import json
import signal
import socket
import subprocess
import sys
import time

import pytest
import requests
from sqlalchemy import text

from idp.extensions import db

from ..conftest import make_client
from .conftest import ROOT

SERVERS = ["production", "gunicorn"]


def _service(app):
    return make_client(app, "Billing", [], grant_types=["client_credentials"], scope="orders")


def _token(server, service, timeout: float = 10) -> requests.Response:
    return requests.post(
        f"{server.url}/token",
        data={"grant_type": "client_credentials"},
        auth=(service.client_id, service.plain_secret),
        timeout=timeout,
    )


def _stored_tokens_issued(app) -> int:
    with app.app_context(), db.engine.connect() as connection:
        return connection.execute(
            text("SELECT count(*) FROM audit_events WHERE event_type = 'tokens_issued'")
        ).scalar_one()


@pytest.mark.parametrize("kind", SERVERS)
def test_the_server_starts_and_serves_discovery_and_tokens(kind, start_server, make_app):
    app = make_app()
    service = _service(app)
    server = start_server(kind)
    discovery = requests.get(f"{server.url}/.well-known/openid-configuration", timeout=10)
    assert discovery.status_code == 200
    assert discovery.json()["issuer"] == server.url
    response = _token(server, service)
    assert response.status_code == 200, response.text
    assert response.json()["token_type"].lower() == "bearer"
    assert response.headers["Cache-Control"] == "no-store"
    assert server.stop() == 0


def test_production_settings_are_checked_before_serving(tmp_path):
    """A bad server setting is one line and a non-zero exit, not a crash loop."""
    result = subprocess.run(
        [sys.executable, "-m", "idp.cli", "serve", "--production"],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "IDP_WORKERS": "many", "HOME": str(tmp_path)},
        capture_output=True,
        timeout=30,
    )
    assert result.returncode != 0
    assert result.stderr.decode().strip().splitlines()[-1] == (
        "Error: IDP_WORKERS must be a whole number, got 'many'"
    )


@pytest.mark.parametrize("kind", SERVERS)
def test_sigterm_lets_the_request_in_flight_finish_and_writes_queued_audit_rows(
    kind, start_server, make_app
):
    app = make_app()
    service = _service(app)
    # Only the exit can write the audit rows; one worker, so the request below is its own.
    server = start_server(kind, workers=1, IDP_AUDIT_BATCH_SECONDS="3600")
    assert _token(server, service).status_code == 200
    assert _stored_tokens_issued(app) == 0

    # A request in flight: headers and half the body sent when SIGTERM arrives.
    body = b"grant_type=client_credentials"
    basic = base64.b64encode(f"{service.client_id}:{service.plain_secret}".encode()).decode()
    with socket.create_connection(("127.0.0.1", server.port), timeout=20) as sock:
        sock.sendall(
            b"POST /token HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
            b"Content-Type: application/x-www-form-urlencoded\r\n"
            + f"Authorization: Basic {basic}\r\nContent-Length: {len(body)}\r\n\r\n".encode()
            + body[:10]
        )
        time.sleep(0.3)
        server.process.send_signal(signal.SIGTERM)
        time.sleep(1)
        sock.sendall(body[10:])
        reply = b""
        while chunk := sock.recv(65536):
            reply += chunk
    assert reply.startswith(b"HTTP/1.1 200"), reply[:300]
    assert b'"access_token"' in reply
    # One SIGTERM, as an orchestrator sends: the server drains, writes and exits on its own.
    assert server.wait_exit() == 0, server.errors.decode()[-2000:]
    assert _stored_tokens_issued(app) == 2


IDLE_CONNECTIONS = 200


def test_two_hundred_idle_connections_do_not_hold_up_discovery_or_tokens(start_server, make_app):
    """Opened and silent sockets (a slowloris, a proxy's idle pool) must not take the workers:
    sync gunicorn workers wait on them until their timeout (75 s of silence in the review)."""
    app = make_app()
    service = _service(app)
    server = start_server("production", workers=2)
    idle = []
    try:
        for _ in range(IDLE_CONNECTIONS):
            idle.append(socket.create_connection(("127.0.0.1", server.port), timeout=5))
        time.sleep(0.5)  # let the server accept them all
        started = time.monotonic()
        discovery = requests.get(f"{server.url}/.well-known/openid-configuration", timeout=5)
        assert discovery.status_code == 200
        assert time.monotonic() - started < 1.0
        started = time.monotonic()
        response = _token(server, service, timeout=5)
        assert response.status_code == 200, response.text
        assert time.monotonic() - started < 1.0
    finally:
        for sock in idle:
            sock.close()
    assert server.stop() == 0


def test_production_server_logs_json_lines_without_query_strings(start_server):
    server = start_server("production", workers=1, IDP_ACCESS_LOG="1", IDP_LOG_LEVEL="info")
    assert requests.get(f"{server.url}/healthz?code=SECRET-CODE", timeout=10).status_code == 200
    assert server.stop() == 0
    lines = server.errors.decode().splitlines()
    records = [json.loads(line) for line in lines]  # every line is one JSON object
    assert any(r.get("path") == "/healthz" and r.get("status") == 200 for r in records)
    assert any(r.get("logger") == "idp.access" and r.get("route") == "/healthz" for r in records)
    assert "SECRET-CODE" not in server.errors.decode()
