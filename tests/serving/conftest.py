"""Real server processes for the serving tests: `idp serve --production` (granian) and gunicorn
with gunicorn.conf.py, each on a free loopback port, on the run's database and store, stopped
by PID at the end."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT_SECONDS = 40


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """One server process group; `stop()` sends SIGTERM and returns its exit status."""

    def __init__(self, kind: str, argv: list[str], env: dict[str, str], port: int) -> None:
        self.kind = kind
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.process = subprocess.Popen(
            argv,
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,  # its own process group: cleanup reaches the workers
        )
        self.errors = b""

    def wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while True:
            try:
                if requests.get(f"{self.url}/healthz", timeout=5).status_code == 200:
                    return
            except requests.RequestException:  # not listening yet, or workers still booting
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.kill()
                pytest.fail(f"{self.kind} did not start: {self.errors.decode()[-2000:]}")
            time.sleep(0.2)

    def stop(self, timeout: float = 40) -> int:
        """SIGTERM to the server (the master), wait for it, return its exit status."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.wait_exit(timeout)

    def wait_exit(self, timeout: float = 40) -> int:
        """Wait for a server already told to stop; a second SIGTERM mid-drain would kill it."""
        try:
            _, self.errors = self.process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            pytest.fail(f"{self.kind} did not stop within {timeout} s after SIGTERM")
        return self.process.returncode

    def kill(self) -> None:
        """Last resort, by process group id (this server's group only)."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        _, self.errors = self.process.communicate(timeout=10)


@pytest.fixture
def start_server(make_app, settings, tmp_path):
    """start_server(kind, workers=2, **env) -> Server, answering on its issuer.

    kind "production" runs `idp serve --production`; "gunicorn" runs
    `gunicorn -c gunicorn.conf.py wsgi:app`, the documented alternative.
    """
    make_app()  # the fixture's clean-up then wipes what the servers wrote
    started: list[Server] = []

    def start(kind: str, workers: int = 2, **extra_env: str) -> Server:
        if kind == "gunicorn" and not settings["redis_url"]:
            workers = 1  # gunicorn refuses several workers without a shared store
        port = free_port()
        env = {
            **os.environ,
            "DATABASE_URL": settings["database_url"],
            "REDIS_URL": settings["redis_url"],
            "IDP_REDIS_PREFIX": settings["redis_prefix"],
            "IDP_KEYS_DIR": settings["keys_dir"],
            "IDP_ISSUER": f"http://127.0.0.1:{port}",
            "IDP_SECRET_KEY": settings["secret_key"],
            "IDP_RATE_LIMIT_TOKEN": "1000/second",
            "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / f"metrics-{port}"),
            "IDP_LOG_LEVEL": "warning",
            "IDP_BIND": f"127.0.0.1:{port}",
            "IDP_WORKERS": str(workers),
            **extra_env,
        }
        os.makedirs(env["PROMETHEUS_MULTIPROC_DIR"])
        if kind == "production":
            argv = [sys.executable, "-m", "idp.cli", "serve", "--production"]
        elif kind == "gunicorn":
            argv = [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py"]
            argv += ["--no-control-socket", "wsgi:app"]
        else:
            raise ValueError(kind)
        server = Server(kind, argv, env, port)
        started.append(server)
        server.wait_ready()
        return server

    yield start
    for server in started:
        if server.process.poll() is None:
            server.kill()
