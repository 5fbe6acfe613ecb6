"""Fault injection: idp against a Redis and a PostgreSQL this suite starts itself.

Each server runs on a free loopback port in a temp dir, so a test can stop, hang
(SIGSTOP) and restart it without touching the shared services. The binaries are required:
without `redis-server` or PostgreSQL's `initdb`/`pg_ctl` the suite fails in CI (CI is
set, or IDP_REQUIRE_SERVICES=1), and elsewhere says what to install. PostgreSQL refuses
to run as root, so as root it runs as the `postgres` system user (runuser).
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from idp import create_app
from idp.extensions import db
from idp.services import clients, users

from ..conftest import REDIRECT_URI, USER_EMAIL, USER_PASSWORD
from ..helpers import ClosingClient

START_TIMEOUT_SECONDS = 20
# In CI (and whenever services are required) missing binaries fail the run; a newcomer's
# `make test` without them is told what to install.
REQUIRED = bool(os.environ.get("CI")) or os.environ.get("IDP_REQUIRE_SERVICES") == "1"


def pytest_collection_modifyitems(items):
    """One worker runs all of tests/faults under `make test`'s pytest-xdist (loadgroup): its
    servers are started once per worker, and a second pair would only cost time."""
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.fspath).parents:
            item.add_marker(pytest.mark.xdist_group("faults"))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _binary(name: str) -> str:
    found = shutil.which(name) or next(
        iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)), None
    )
    if found is None:
        message = f"tests/faults needs the {name!r} binary (apt install redis-server postgresql)"
        if REQUIRED:
            pytest.fail(message)
        pytest.skip(message + "; CI fails here")
    return found


def _wait(check, what: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise RuntimeError(f"{what} did not start within {START_TIMEOUT_SECONDS} s")


class RedisServer:
    """A throw-away redis-server without persistence, as deploy/compose.yaml runs it."""

    def __init__(self, workdir: Path) -> None:
        self.binary = _binary("redis-server")
        self.workdir = workdir
        self.port = free_port()
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""]
            + ["--appendonly", "no", "--dir", str(self.workdir)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        _wait(self._answers, "redis-server")

    def _answers(self) -> bool:
        with (
            contextlib.suppress(OSError),
            socket.create_connection(("127.0.0.1", self.port), 1) as s,
        ):
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
        return False

    def pause(self) -> None:
        os.kill(self.process.pid, signal.SIGSTOP)

    def resume(self) -> None:
        if self.process is not None:
            os.kill(self.process.pid, signal.SIGCONT)

    def stop(self) -> None:
        if self.process is None:
            return
        self.resume()
        self.process.terminate()
        self.process.wait(timeout=10)
        self.process = None

    def restart(self) -> None:
        """Stop and start again, empty: nothing is persisted."""
        self.stop()
        self.start()


class PostgresServer:
    """A throw-away PostgreSQL cluster (trust auth on loopback, no fsync)."""

    def __init__(self) -> None:
        self.initdb = _binary("initdb")
        self.pg_ctl = _binary("pg_ctl")
        self.port = free_port()
        # Not under pytest's tmp dir: that is private to root, and postgres must enter it.
        self.root = Path(tempfile.mkdtemp(prefix="idp-faults-pg-"))
        self.data = self.root / "data"
        self.user = None
        if os.geteuid() == 0:  # initdb refuses root
            try:
                self.user = pwd.getpwnam("postgres")
            except KeyError:
                pytest.fail("tests/faults runs PostgreSQL as the 'postgres' user: create it")
            os.chown(self.root, self.user.pw_uid, self.user.pw_gid)
        self._run(self.initdb, "-D", str(self.data), "-U", "postgres", "--auth=trust", "-N")

    def _run(self, *command: str) -> None:
        if self.user is not None:
            command = ("runuser", "-u", self.user.pw_name, "--", *command)
        subprocess.run(command, check=True, capture_output=True, timeout=60)

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def start(self) -> None:
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=100"
        )
        self._run(
            self.pg_ctl, "-D", str(self.data), "-l", str(self.root / "log"), "-o", options,
            "-w", "-t", str(START_TIMEOUT_SECONDS), "start",
        )  # fmt: skip

    def stop(self) -> None:
        self._run(self.pg_ctl, "-D", str(self.data), "-m", "fast", "-w", "stop")

    def restart(self) -> None:
        self.stop()
        self.start()

    def remove(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory):
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def postgres_server():
    server = PostgresServer()
    server.start()
    yield server
    server.remove()


@pytest.fixture(scope="session")
def fault_settings(postgres_server, redis_server, keys_dir):
    from flask_migrate import upgrade

    settings = {
        "env": "development",
        "issuer": "http://127.0.0.1:5000",
        "secret_key": secrets.token_urlsafe(32),
        "database_url": postgres_server.url,
        "redis_url": redis_server.url,
        "redis_prefix": "idp-faults:",
        "keys_dir": keys_dir,
        "testing": True,
        "rate_limit_login": "1000/minute",
        "rate_limit_login_account": "1000/minute",
        "rate_limit_token": "1000/second",
    }
    app = create_app(settings)
    with app.app_context():
        upgrade()
        db.engine.dispose()
    return settings


@pytest.fixture
def make_fault_app(fault_settings, postgres_server, redis_server):
    """Apps on the private services; the services are up and answering again afterwards."""
    built = []

    def factory(**overrides):
        app = create_app({**fault_settings, **overrides})
        app.test_client_class = ClosingClient
        built.append(app)
        return app

    yield factory
    redis_server.resume()
    if redis_server.process is None or redis_server.process.poll() is not None:
        redis_server.start()
    with contextlib.suppress(subprocess.CalledProcessError):
        postgres_server.start()  # fails when it is running: fine
    for app in built:
        app.extensions["idp.outbox"].close(flush=False)
        with app.app_context():
            db.engine.dispose()


@pytest.fixture
def fault_app(make_fault_app):
    return make_fault_app()


@pytest.fixture
def fault_user(fault_app):
    """The conftest's user, with a fresh address per test (rows are not wiped here)."""
    email = f"{secrets.token_hex(4)}-{USER_EMAIL}"
    with fault_app.app_context():
        created = users.create_user(email, USER_PASSWORD, email_verified=True)
        return created.id, email


def register(app, **kwargs):
    """A confidential client on the private services; returns (client_id, secret)."""
    with app.app_context():
        created, secret = clients.create_client(
            "Faulty", [REDIRECT_URI], scope="openid profile email offline_access", **kwargs
        )
        return created.client_id, secret


def sign_in_tokens(app, registered, email, scope="openid profile email"):
    """Sign in through the pages and redeem the code; return the token response JSON."""
    from ..helpers import AuthorizationRequest, Browser, query

    client = app.test_client()
    request = AuthorizationRequest(registered[0], REDIRECT_URI, scope=scope)
    answer = query(Browser(client).authorize(request, email, USER_PASSWORD).headers["Location"])
    response = client.post(
        "/token",
        data={
            "grant_type": "authorization_code",
            "code": answer["code"],
            "redirect_uri": REDIRECT_URI,
            "code_verifier": request.verifier,
        },
        auth=registered,
    )
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def post(app, path, registered, **data):
    return app.test_client().post(path, data=data, auth=registered)
