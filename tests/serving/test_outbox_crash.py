"""A worker killed with SIGKILL right after answering loses no side effect: the audit row,
the mail and the back-channel logout were committed to the outbox table with the change,
and the next server process delivers them."""

from __future__ import annotations

import http.server
import re
import threading
import time
from urllib.parse import parse_qs

import pytest
import requests
from joserfc import jwt
from joserfc.jwk import KeySet
from sqlalchemy import text

from idp.extensions import db

from ..conftest import REDIRECT_URI, USER_EMAIL, USER_PASSWORD, make_client, make_user
from ..flows.tokens import login_tokens
from ..helpers import Browser


class Receiver:
    """A relying party's back-channel logout endpoint on loopback."""

    def __init__(self) -> None:
        received = self.received = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's naming
                length = int(self.headers["Content-Length"])
                received.append(parse_qs(self.rfile.read(length).decode()))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                return None

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.uri = f"http://127.0.0.1:{self.server.server_port}/backchannel-logout"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    made = Receiver()
    yield made
    made.close()


def _count(app, sql: str, **params) -> int:
    with app.app_context(), db.engine.connect() as connection:
        return connection.execute(text(sql), params).scalar_one()


def _queued_kinds(app) -> dict[str, int]:
    with app.app_context(), db.engine.connect() as connection:
        rows = connection.execute(text("SELECT kind, count(*) FROM outbox GROUP BY kind"))
        return dict(rows.all())


def test_a_sigkilled_worker_loses_no_audit_row_mail_or_logout(
    make_app, start_server, mailbox, receiver
):
    app = make_app()
    user = make_user(app, USER_EMAIL, USER_PASSWORD)
    notes = make_client(
        app, "Notes", [REDIRECT_URI], scope="openid", backchannel_logout_uri=receiver.uri
    )
    ops = make_client(app, "Ops", [], grant_types=["client_credentials"], scope="idp:admin")
    # A browser session in which Notes received tokens (the database is the servers').
    login_tokens(Browser(app.test_client()), app.test_client(), notes, scope="openid")
    smtp = f"smtp://127.0.0.1:{mailbox.port}"

    # Web workers leave the outbox alone here, so the kill surely comes first.
    first = start_server("production", workers=1, IDP_OUTBOX_DRAIN="worker", IDP_SMTP_URL=smtp)
    issued = requests.post(
        f"{first.url}/token",
        data={"grant_type": "client_credentials"},
        auth=(ops.client_id, ops.plain_secret),
        timeout=10,
    )
    assert issued.status_code == 200, issued.text
    admin = {"Authorization": f"Bearer {issued.json()['access_token']}"}
    browser = requests.Session()
    page = browser.get(f"{first.url}/password/forgot", timeout=10).text
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    forgot = browser.post(
        f"{first.url}/password/forgot", data={"csrf_token": csrf, "email": USER_EMAIL}, timeout=10
    )
    assert forgot.status_code == 200
    ended = requests.delete(
        f"{first.url}/admin/api/users/{user.id}/sessions", headers=admin, timeout=10
    )
    assert ended.json() == {"ended": 1}
    first.kill()  # SIGKILL to the server's process group, right after the answers

    assert _queued_kinds(app) == {"audit": 1, "account_job": 1, "backchannel_logout": 1}
    assert mailbox.messages == [] and receiver.received == []
    tokens_issued = (
        "SELECT count(*) FROM audit_events WHERE event_type = 'tokens_issued' AND client_id = :c"
    )
    assert _count(app, tokens_issued, c=ops.client_id) == 0

    second = start_server("production", workers=1, IDP_SMTP_URL=smtp)  # drains once ready
    deadline = time.monotonic() + 30
    while _queued_kinds(app) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _queued_kinds(app) == {}
    assert _count(app, tokens_issued, c=ops.client_id) == 1
    message = mailbox.wait_for(1)
    assert message["Subject"] == "Reset your password"
    assert message["To"] == USER_EMAIL
    (delivery,) = receiver.received
    keys = KeySet.import_key_set(requests.get(f"{second.url}/jwks.json", timeout=10).json())
    claims = jwt.decode(delivery["logout_token"][0], keys, algorithms=["RS256"]).claims
    assert (claims["aud"], claims["sub"]) == (notes.client_id, str(user.id))
    delivered = "SELECT count(*) FROM audit_events WHERE event_type = :type"
    assert _count(app, delivered, type="backchannel_logout_delivered") == 1
