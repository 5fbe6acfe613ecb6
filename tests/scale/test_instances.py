"""Three idp instances behind nginx, round robin, no sticky sessions."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter

import pytest
import requests

from idp.oauth.keys import RELOAD_CHECK_SECONDS

from .conftest import Deployment, free_port, require, service_urls, wait_for_port
from .oidc_login import Login

NGINX_CONF = """
worker_processes 1;
daemon off;
pid {dir}/nginx.pid;
error_log {dir}/nginx-error.log;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    upstream idp {{
{servers}
    }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://idp;
            proxy_set_header Host $http_host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            add_header X-Upstream $upstream_addr always;
        }}
    }}
}}
"""
PASSWORD = "correct horse battery staple"


class Nginx:
    def __init__(self, processes, ports: list[int]) -> None:
        self.binary = require("nginx")
        self.processes = processes
        self.dir = processes.workdir / "nginx"
        self.dir.mkdir()
        self.dir.chmod(0o777)  # workers drop root when the suite runs as root
        self.conf = self.dir / "nginx.conf"
        self.port = free_port()
        self.ports = ports
        self.write(down=None)
        self.process = processes.start([self.binary, "-c", str(self.conf)], "nginx")
        wait_for_port(self.port, process=self.process)
        self.url = f"http://127.0.0.1:{self.port}"

    def write(self, down: int | None) -> None:
        servers = "\n".join(
            f"        server 127.0.0.1:{p}{' down' if p == down else ''};" for p in self.ports
        )
        self.conf.write_text(NGINX_CONF.format(dir=self.dir, servers=servers, port=self.port))

    def drain(self, port: int | None) -> None:
        """Take `port` out of rotation (None: put everything back), as a graceful reload."""
        self.write(down=port)
        import subprocess

        subprocess.run([self.binary, "-c", str(self.conf), "-s", "reload"], check=True)
        time.sleep(1)  # old workers finish their requests; new ones have the new upstreams


@pytest.fixture(scope="module")
def deployment(processes):
    _, redis_url = service_urls()
    ports = [free_port() for _ in range(3)]
    nginx = Nginx(processes, ports)
    deployment = Deployment(
        processes,
        redis_url,
        IDP_ISSUER=nginx.url,
        IDP_RATE_LIMIT_TOKEN="100000/second",
        IDP_RATE_LIMIT_LOGIN="100000/minute",
    )
    for port in ports:
        deployment.start(port)
    deployment.nginx = nginx
    deployment.ports = ports
    yield deployment
    deployment.close()


@pytest.fixture(scope="module")
def app_client(deployment):
    deployment.idp(
        "users", "create", "--email", "ada@example.com", "--password-stdin", stdin=PASSWORD + "\n"
    )
    created = json.loads(
        deployment.idp(
            "clients", "create", "--name", "notes", "--redirect-uri", "https://rp.example.org/cb"
        )
    )
    return created


@pytest.fixture(scope="module")
def service_client(deployment):
    return json.loads(
        deployment.idp(
            "clients",
            "create",
            "--name",
            "svc",
            "--grant-type",
            "client_credentials",
        )
    )


def test_a_code_flow_crosses_instances_on_every_step(deployment, app_client):
    login = Login(
        deployment.nginx.url,
        app_client["client_id"],
        app_client["client_secret"],
        "https://rp.example.org/cb",
        "ada@example.com",
        PASSWORD,
    )
    tokens = login.run()
    upstreams = [step[3] for step in login.steps]
    assert len(login.steps) >= 7  # authorize, login page, login, resume, consent x2, token, ...
    assert all(a != b for a, b in zip(upstreams, upstreams[1:], strict=False)), login.steps
    assert set(upstreams) == {f"127.0.0.1:{p}" for p in deployment.ports}
    assert "id_token" in tokens


def _kids(port: int) -> set[str]:
    jwks = requests.get(f"http://127.0.0.1:{port}/jwks.json", timeout=5).json()
    return {key["kid"] for key in jwks["keys"]}


def _signing_kid(port: int, client: dict) -> str:
    import base64

    response = requests.post(
        f"http://127.0.0.1:{port}/token",
        data={"grant_type": "client_credentials"},
        auth=(client["client_id"], client["client_secret"]),
        timeout=5,
    )
    assert response.status_code == 200, response.text
    header = response.json()["access_token"].split(".")[0]
    return json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))["kid"]


def _seconds_until_all(check, ports, limit: float) -> float:
    """Poll every instance (several times each: two workers) until `check` holds on all."""
    started = time.monotonic()
    while time.monotonic() - started < limit:
        if all(check(port) for port in ports for _ in range(4)):
            return time.monotonic() - started
        time.sleep(0.25)
    raise AssertionError(f"not seen by every instance within {limit} s")


def test_a_key_rotation_is_seen_by_every_instance_within_the_reload_interval(
    deployment, service_client
):
    before = _kids(deployment.ports[0])
    deployment.idp("keys", "rotate")  # publishes the next key
    (next_kid,) = _new_kids(deployment, before)
    limit = RELOAD_CHECK_SECONDS + 2
    published = _seconds_until_all(lambda p: next_kid in _kids(p), deployment.ports, limit)
    deployment.idp("keys", "rotate", "--force")  # next -> active
    signing = _seconds_until_all(
        lambda p: _signing_kid(p, service_client) == next_kid, deployment.ports, limit
    )
    print(f"new key published everywhere after {published:.1f} s, signing after {signing:.1f} s")


def _new_kids(deployment, before: set[str]) -> set[str]:
    """The kid `idp keys rotate` just wrote, read from the shared folder."""
    return {path.stem for path in deployment.keys_dir.glob("*.json")} - before


def test_a_rolling_restart_under_load_fails_no_request(deployment, service_client):
    stop = threading.Event()
    outcomes: Counter = Counter()
    lock = threading.Lock()

    def load() -> None:
        session = requests.Session()
        while not stop.is_set():
            for method, path, data in (
                ("POST", "/token", {"grant_type": "client_credentials"}),
                ("GET", "/.well-known/openid-configuration", None),
                ("GET", "/readyz", None),
            ):
                try:
                    status = session.request(
                        method,
                        deployment.nginx.url + path,
                        data=data,
                        timeout=10,
                        auth=(service_client["client_id"], service_client["client_secret"])
                        if data
                        else None,
                    ).status_code
                except requests.RequestException as exc:
                    status = type(exc).__name__
                with lock:
                    outcomes[status] += 1

    threads = [threading.Thread(target=load) for _ in range(4)]
    for thread in threads:
        thread.start()
    try:
        time.sleep(1)
        for port in deployment.ports:
            deployment.nginx.drain(port)
            deployment.stop(port)  # SIGTERM: gunicorn finishes what it has, then exits
            deployment.start(port)  # returns once /readyz answers 200
            deployment.nginx.drain(None)
        time.sleep(1)
    finally:
        stop.set()
        for thread in threads:
            thread.join(30)
    print(f"requests during the rolling restart: {dict(outcomes)}")
    assert set(outcomes) == {200}, dict(outcomes)
    assert outcomes[200] > 100
