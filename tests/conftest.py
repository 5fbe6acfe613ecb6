"""Fixtures: the app from the factory, on real Postgres and Redis when configured.

IDP_TEST_DATABASE_URL / IDP_TEST_REDIS_URL point at servers; each run creates its own
database (and Redis key prefix) and drops it at the end. Without them the suite runs on
SQLite and the in-process store, unless IDP_REQUIRE_SERVICES=1 makes that an error.
"""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
import threading
from pathlib import Path
from types import SimpleNamespace

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from werkzeug.serving import make_server

from idp import create_app
from idp.config import normalise_database_url
from idp.extensions import db
from idp.oauth.keys import generate_key
from idp.services import clients, users

from . import isolation
from .helpers import Browser, ClosingClient

REQUIRE_SERVICES = os.environ.get("IDP_REQUIRE_SERVICES") == "1"
TEST_ISSUER = "http://127.0.0.1:5000"
USER_EMAIL = "ada@example.com"
USER_PASSWORD = "correct horse battery staple"
REDIRECT_URI = "https://rp.example.org/callback"
PRODUCTION_PASSWORD_HASHER = users.password_hasher  # before the run swaps it


def _unavailable(what: str) -> None:
    if REQUIRE_SERVICES:
        pytest.exit(f"IDP_REQUIRE_SERVICES=1 but {what}", returncode=3)


@pytest.fixture(scope="session", autouse=True)
def cheap_password_hashing():
    """argon2 at its smallest parameters for the run (see tests/isolation.py)."""
    production = users.password_hasher
    isolation.use_password_hasher(isolation.CHEAP_PASSWORD_HASHER)
    yield
    isolation.use_password_hasher(production)


@pytest.fixture
def production_password_hashing(cheap_password_hashing):
    """idp's own argon2 parameters (m=19 MiB, t=2), for tests about the hash or its cost."""
    isolation.use_password_hasher(PRODUCTION_PASSWORD_HASHER)
    yield
    isolation.use_password_hasher(isolation.CHEAP_PASSWORD_HASHER)


@pytest.fixture(scope="session")
def keys_dir(tmp_path_factory):
    directory = tmp_path_factory.mktemp("keys")
    generate_key(directory, "RS256")
    return str(directory)


def _sqlite_database():
    """The embedded default's database file, in memory-backed /dev/shm where there is one:
    every commit fsyncs the file, 30 ms on a busy disk, and a test run commits thousands
    of times. The file, its locking and its journal are SQLite's own, as in production."""
    shm = Path("/dev/shm")  # noqa: S108 - mkdtemp makes a private directory in it
    base = shm if shm.is_dir() else Path(tempfile.gettempdir())
    _remove_abandoned_databases(base)
    directory = Path(tempfile.mkdtemp(prefix=f"idp-test-{os.getpid()}-", dir=base))
    yield f"sqlite:///{directory / 'idp-test.sqlite3'}"
    shutil.rmtree(directory, ignore_errors=True)


def _remove_abandoned_databases(base: Path) -> None:
    """A run killed before its clean-up leaves its database behind (in memory, in /dev/shm):
    remove those whose process (named in the directory) is gone."""
    for path in base.glob("idp-test-*-*"):
        pid = path.name.split("-")[2]
        if not pid.isdigit():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            shutil.rmtree(path, ignore_errors=True)
        except PermissionError:  # alive, someone else's
            continue


@pytest.fixture(scope="session")
def database_url():
    server_url = os.environ.get("IDP_TEST_DATABASE_URL")
    if not server_url:
        _unavailable("IDP_TEST_DATABASE_URL is not set")
        yield from _sqlite_database()
        return
    base = make_url(normalise_database_url(server_url))
    name = f"idp_test_{secrets.token_hex(6)}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
            # Commits stop waiting for the WAL's fsync (20 ms each on a busy disk); what a
            # commit makes visible, and when, is unchanged. Only a crash could lose them.
            conn.execute(text(f'ALTER DATABASE "{name}" SET synchronous_commit = off'))
    except OperationalError as exc:
        _unavailable(f"Postgres at IDP_TEST_DATABASE_URL is unreachable: {exc.orig}")
        yield from _sqlite_database()
        return
    yield base.set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def redis_url():
    url = os.environ.get("IDP_TEST_REDIS_URL", "")
    if not url:
        _unavailable("IDP_TEST_REDIS_URL is not set")
        return ""
    import redis

    from idp.store import redis_client

    try:  # any REDIS_URL form: the scale suite runs this on Sentinel and Cluster too
        redis_client(url).ping()
    except (redis.RedisError, OSError) as exc:
        _unavailable(f"Redis at IDP_TEST_REDIS_URL is unreachable: {exc}")
        return ""
    return url


@pytest.fixture(scope="session")
def settings(database_url, redis_url, keys_dir):
    """Overrides every test app shares; each run gets its own Redis key prefix."""
    return {
        "env": "development",
        "issuer": TEST_ISSUER,
        "secret_key": secrets.token_urlsafe(32),
        "database_url": database_url,
        "redis_url": redis_url,
        "redis_prefix": f"idp-test-{secrets.token_hex(6)}:",
        "keys_dir": keys_dir,
        "testing": True,
        # Generous limits so flows are not throttled; rate-limit tests lower them.
        "rate_limit_login": "1000/minute",
        "rate_limit_login_account": "1000/minute",
        "rate_limit_mfa": "1000/minute",
        "rate_limit_mfa_account": "1000/minute",
        "rate_limit_register": "1000/minute",
        "rate_limit_email": "1000/minute",
        "rate_limit_token": "1000/second",
    }


@pytest.fixture(scope="session")
def migrated(settings):
    """Apply the migrations once per run, as `idp db upgrade` does."""
    from flask_migrate import upgrade

    app = create_app(settings)
    with app.app_context():
        upgrade()
        db.engine.dispose()
    return True


@pytest.fixture(scope="session")
def rows_engine(settings, migrated):
    engine = isolation.rows_engine(settings["database_url"])
    yield engine
    engine.dispose()


@pytest.fixture
def world(settings, rows_engine):
    """The apps this test used; afterwards their rows, store keys and clock are wiped."""
    used = isolation.TestWorld(settings, rows_engine)
    yield used
    used.clean()


@pytest.fixture
def make_app(world):
    """Build fresh apps from the factory (for settings of their own); discarded after."""

    def factory(**overrides):
        app = create_app({**world.settings, **overrides})
        app.test_client_class = ClosingClient  # work after the response runs, as in a server
        world.built.append(app)
        return app

    return factory


@pytest.fixture(scope="session")
def shared_app(settings, migrated):
    """The run's app with the default test settings, built once (see tests/isolation.py)."""
    app = create_app(settings)
    app.test_client_class = ClosingClient
    yield app
    isolation.stop_background_writers(app)
    isolation.discard_app(app)


@pytest.fixture
def app(shared_app, world):
    # No app context stays pushed: each request gets its own, as in production.
    return world.share(shared_app)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def browser(app):
    return Browser(app.test_client())


@pytest.fixture
def user(app):
    return make_user(app, USER_EMAIL, USER_PASSWORD, name="Ada Lovelace")


def make_user(app, email, password, **kwargs) -> SimpleNamespace:
    with app.app_context():
        created = users.create_user(email, password, email_verified=True, **kwargs)
        return SimpleNamespace(id=created.id, email=created.email, password=password)


def make_client(app, name, redirect_uris, **kwargs) -> SimpleNamespace:
    with app.app_context():
        created, secret = clients.create_client(name, redirect_uris, **kwargs)
        return SimpleNamespace(
            client_id=created.client_id, plain_secret=secret, redirect_uris=created.redirect_uris
        )


@pytest.fixture
def confidential_client(app):
    return make_client(app, "Lovelace Notes", [REDIRECT_URI], scope="openid profile email")


@pytest.fixture
def public_client(app):
    return make_client(app, "Lovelace Mobile", ["http://127.0.0.1:7000/cb"], public=True)


@pytest.fixture
def live_server(make_app):
    """Serve a fresh app on a random loopback port; the issuer is that address."""
    server = make_server("127.0.0.1", 0, None, threaded=True)
    issuer = f"http://127.0.0.1:{server.server_port}"
    server.app = make_app(issuer=issuer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.app, issuer
    server.shutdown()
    thread.join(timeout=5)


class Mailbox:
    """Messages received by a real SMTP server on loopback."""

    def __init__(self) -> None:
        self.messages = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        import email
        from email import policy

        self.messages.append(email.message_from_bytes(envelope.content, policy=policy.default))
        return "250 OK"

    def wait_for(self, count: int = 1, timeout: float = 10.0):
        """Wait until `count` messages arrived (aiosmtpd takes them in its own thread)."""
        import time

        deadline = time.monotonic() + timeout
        while len(self.messages) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        assert len(self.messages) >= count, f"expected {count} messages, got {len(self.messages)}"
        return self.messages[count - 1]

    def text(self, message) -> str:
        return message.get_body(preferencelist=("plain",)).get_content()

    def link(self, message) -> str:
        import re

        return re.search(r"https?://\S+", self.text(message)).group(0)


@pytest.fixture
def mailbox():
    import socket

    from aiosmtpd.controller import Controller

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    box = Mailbox()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    box.port = port
    yield box
    controller.stop()


@pytest.fixture
def mail_app(make_app, mailbox):
    """An app that delivers mail to the loopback SMTP server."""
    return make_app(smtp_url=f"smtp://127.0.0.1:{mailbox.port}")


@pytest.fixture
def serve():
    """Run apps on random loopback ports: serve(lambda issuer: app) -> (app, issuer)."""
    running = []

    def start(build):
        server = make_server("127.0.0.1", 0, None, threaded=True)
        issuer = f"http://127.0.0.1:{server.server_port}"
        server.app = build(issuer)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        running.append((server, thread))
        return server.app, issuer

    yield start
    for server, thread in running:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
