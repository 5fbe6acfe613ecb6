"""The opt-in scale suite (`make test-scale`): real PgBouncer, Redis Sentinel and Cluster,
several idp instances behind nginx. Every component is started here, on ports free at run
time, in a temporary folder, and stopped by its PID; the shared Postgres and Redis given by
IDP_TEST_DATABASE_URL / IDP_TEST_REDIS_URL are only used as a client would.

Every test here is marked `scale`; the default run leaves them out (`-m "not scale"`).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent


def pytest_collection_modifyitems(items):
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.fspath).parents:
            item.add_marker(pytest.mark.scale)


def free_port() -> int:
    """A port nothing listens on now (the kernel's choice; other engineers do the same)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, timeout: float = 20.0, process: subprocess.Popen | None = None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{process.args[0]} exited with {process.returncode}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout} s")


def require(binary: str) -> str:
    """The path of a Debian tool the suite needs; `make test-scale` installs them."""
    path = shutil.which(binary) or next(
        (str(p) for p in (Path("/usr/sbin") / binary, Path("/usr/bin") / binary) if p.exists()),
        None,
    )
    if path is None:
        pytest.fail(f"{binary} is not installed: run `make test-scale` (it installs it)")
    return path


class Processes:
    """Processes started by one test module, stopped by PID (process group) at the end."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.started: list[subprocess.Popen] = []

    def start(
        self, args: list[str], name: str, env: dict | None = None, cwd: Path | None = None
    ) -> subprocess.Popen:
        log = open(self.workdir / f"{name}.log", "ab")  # noqa: SIM115 - closed with the process
        process = subprocess.Popen(
            args,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=cwd or self.workdir,
            env={**os.environ, **(env or {})},
            start_new_session=True,
        )
        process.log = log
        self.started.append(process)
        return process

    def stop(self, process: subprocess.Popen, sig: int = signal.SIGTERM, timeout: float = 30):
        if process.poll() is None:
            os.killpg(process.pid, sig)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(5)
        process.log.close()

    def stop_all(self) -> None:
        for process in reversed(self.started):
            self.stop(process)


@pytest.fixture(scope="module")
def processes(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("scale")
    workdir.chmod(0o755)  # daemons that drop root (pgbouncer, nginx workers) read from here
    started = Processes(workdir)
    yield started
    started.stop_all()


def service_urls() -> tuple[str, str]:
    """The shared Postgres server and Redis the scale suite uses as a client would."""
    database = os.environ.get("IDP_TEST_DATABASE_URL", "")
    redis_url = os.environ.get("IDP_TEST_REDIS_URL", "")
    if not (database.startswith("postgresql") and redis_url):
        pytest.fail("the scale suite needs IDP_TEST_DATABASE_URL and IDP_TEST_REDIS_URL")
    return database, redis_url


def run_suite(
    paths: list[str], env: dict, timeout: int, extra: tuple[str, ...] = ()
) -> subprocess.CompletedProcess:
    """Run part of the default suite in a child pytest with other services behind it."""
    return subprocess.run(
        [
            str(VENV_BIN / "python"),
            "-m",
            "pytest",
            "-q",
            "-x",
            "-p",
            "no:cacheprovider",
            "-m",
            "not scale",
            *extra,
            *paths,
        ],
        cwd=ROOT,
        env={**os.environ, "IDP_REQUIRE_SERVICES": "1", **env},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def suite_paths(variable: str, default: str) -> list[str]:
    """Which tests a child run covers: the whole default suite unless narrowed by `variable`."""
    return os.environ.get(variable, default).split()


class Deployment:
    """idp as operators run it: a database of its own on the shared Postgres, a key folder,
    `idp db upgrade`, then gunicorn instances started and restarted on demand."""

    def __init__(self, processes: Processes, redis_url: str, **env: str) -> None:
        import secrets

        from sqlalchemy import create_engine, text
        from sqlalchemy.engine import make_url

        from idp.config import normalise_database_url
        from idp.oauth.keys import generate_key

        server_url, _ = service_urls()
        self.processes = processes
        self._admin_url = make_url(normalise_database_url(server_url))
        self._name = f"idp_scale_{secrets.token_hex(6)}"
        admin = create_engine(self._admin_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{self._name}"'))
        admin.dispose()
        keys = processes.workdir / "keys"
        keys.mkdir()
        generate_key(keys, "RS256")
        self.keys_dir = keys
        self.env = {
            "DATABASE_URL": self._admin_url.set(database=self._name).render_as_string(False),
            "REDIS_URL": redis_url,
            "IDP_REDIS_PREFIX": f"idp-scale-{secrets.token_hex(4)}:",
            "IDP_KEYS_DIR": str(keys),
            "IDP_SECRET_KEY": secrets.token_urlsafe(32),
            "IDP_WORKERS": "2",
            "IDP_AUDIT_BATCH_SECONDS": "0",
            **env,
        }
        self.idp("db", "upgrade")
        self.instances: dict[int, subprocess.Popen] = {}

    def idp(self, *args: str, stdin: str | None = None) -> str:
        """Run an `idp` command against this deployment; return its output."""
        result = subprocess.run(
            [str(VENV_BIN / "idp"), *args],
            input=stdin,
            capture_output=True,
            text=True,
            env={**os.environ, **self.env},
            cwd=ROOT,
            timeout=120,
            check=False,
        )
        assert result.returncode == 0, result.stderr[-2000:]
        return result.stdout

    def start(self, port: int) -> subprocess.Popen:
        """Start (or restart) the instance on `port`; return once it is ready."""
        process = self.processes.start(
            [str(VENV_BIN / "gunicorn"), "-c", "gunicorn.conf.py", "wsgi:app"],
            f"idp-{port}",
            env={**self.env, "IDP_BIND": f"127.0.0.1:{port}"},
            cwd=ROOT,  # where gunicorn.conf.py and wsgi.py are
        )
        self.instances[port] = process
        self.wait_ready(port, process)
        return process

    def wait_ready(self, port: int, process: subprocess.Popen, timeout: float = 60) -> None:
        import requests

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"idp on {port} exited; see idp-{port}.log")
            try:
                if requests.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.2)
        raise TimeoutError(f"idp on {port} not ready after {timeout} s")

    def stop(self, port: int) -> None:
        self.processes.stop(self.instances.pop(port))

    def close(self) -> None:
        from sqlalchemy import create_engine, text

        for port in list(self.instances):
            self.stop(port)
        admin = create_engine(self._admin_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{self._name}" WITH (FORCE)'))
        admin.dispose()
