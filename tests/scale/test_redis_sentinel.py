"""Redis Sentinel (a primary, a replica, three sentinels) under load: the primary crashes.

What users see during the switch is measured and printed; afterwards every request works
again and nothing revoked before the crash comes back.
"""

from __future__ import annotations

import json
import signal
import subprocess
import threading
import time

import pytest
import requests

from .conftest import Deployment, free_port, require, wait_for_port

SERVICE = "idp-primary"
DOWN_AFTER_MS = 1000
SENTINEL_CONF = f"""
bind 127.0.0.1
port {{port}}
dir {{dir}}
sentinel monitor {SERVICE} 127.0.0.1 {{primary}} 2
sentinel down-after-milliseconds {SERVICE} {DOWN_AFTER_MS}
sentinel failover-timeout {SERVICE} 10000
sentinel parallel-syncs {SERVICE} 1
"""


@pytest.fixture(scope="module")
def sentinel(processes):
    redis_server, redis_cli = require("redis-server"), require("redis-cli")
    primary, replica = free_port(), free_port()
    common = ["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    servers = {
        primary: processes.start([redis_server, "--port", str(primary), *common], "primary"),
        replica: processes.start(
            [
                redis_server,
                "--port",
                str(replica),
                "--replicaof",
                "127.0.0.1",
                str(primary),
                *common,
            ],
            "replica",
        ),
    }
    sentinels = [free_port() for _ in range(3)]
    for port in sentinels:
        conf = processes.workdir / f"sentinel-{port}.conf"
        conf.write_text(SENTINEL_CONF.format(port=port, dir=processes.workdir, primary=primary))
        processes.start([redis_server, str(conf), "--sentinel"], f"sentinel-{port}")
    for port in (primary, replica, *sentinels):
        wait_for_port(port)
    deadline = time.monotonic() + 30
    while (
        b"master_link_status:up"
        not in subprocess.run(
            [redis_cli, "-p", str(replica), "info", "replication"], capture_output=True, check=True
        ).stdout
    ):
        assert time.monotonic() < deadline, "the replica did not sync"
        time.sleep(0.2)
    url = "redis+sentinel://" + ",".join(f"127.0.0.1:{p}" for p in sentinels) + f"/{SERVICE}"
    return {
        "url": url,
        "primary": primary,
        "replica": replica,
        "servers": servers,
        "sentinels": sentinels,
        "cli": redis_cli,
    }


def _primary_port(sentinel) -> int:
    out = subprocess.run(
        [
            sentinel["cli"],
            "-p",
            str(sentinel["sentinels"][0]),
            "sentinel",
            "get-master-addr-by-name",
            SERVICE,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return int(out[1])


def test_a_primary_crash_under_load_fails_over_and_nothing_revoked_comes_back(processes, sentinel):
    deployment = Deployment(processes, sentinel["url"], IDP_RATE_LIMIT_TOKEN="100000/second")
    try:
        _run_failover(processes, sentinel, deployment)
    finally:
        deployment.close()


def _run_failover(processes, sentinel, deployment) -> None:
    port = free_port()
    deployment.start(port)
    base = f"http://127.0.0.1:{port}"
    svc = json.loads(
        deployment.idp("clients", "create", "--name", "svc", "--grant-type", "client_credentials")
    )
    auth = (svc["client_id"], svc["client_secret"])

    def mint() -> str:
        response = requests.post(
            f"{base}/token", data={"grant_type": "client_credentials"}, auth=auth, timeout=10
        )
        assert response.status_code == 200, response.text
        return response.json()["access_token"]

    def active(token: str) -> bool:
        response = requests.post(f"{base}/introspect", data={"token": token}, auth=auth, timeout=10)
        assert response.status_code == 200, response.text
        return response.json()["active"]

    tokens = [mint() for _ in range(20)]
    revoked, kept = tokens[:10], tokens[10:]
    for token in revoked:
        response = requests.post(f"{base}/revoke", data={"token": token}, auth=auth, timeout=10)
        assert response.status_code == 200
    assert not any(active(t) for t in revoked) and all(active(t) for t in kept)
    # Revocations acknowledged to the client and replicated (WAIT) before the crash.
    subprocess.run(
        [sentinel["cli"], "-p", str(sentinel["primary"]), "wait", "1", "2000"],
        check=True,
        capture_output=True,
    )

    results: list[tuple[float, object]] = []
    stop = threading.Event()

    def load() -> None:
        session = requests.Session()
        while not stop.is_set():
            started = time.monotonic()
            try:
                response = session.post(
                    f"{base}/introspect", data={"token": kept[0]}, auth=auth, timeout=10
                )
                outcome = (
                    response.status_code
                    if response.status_code != 200 or response.json()["active"]
                    else "inactive"
                )
            except requests.RequestException as exc:
                outcome = type(exc).__name__
            results.append((started, outcome))

    threads = [threading.Thread(target=load) for _ in range(4)]
    for thread in threads:
        thread.start()
    time.sleep(2)
    crashed_at = time.monotonic()
    processes.stop(sentinel["servers"][sentinel["primary"]], signal.SIGKILL)
    deadline = crashed_at + 60
    while _primary_port(sentinel) != sentinel["replica"]:
        assert time.monotonic() < deadline, "sentinels did not promote the replica"
        time.sleep(0.1)
    promoted_after = time.monotonic() - crashed_at
    time.sleep(5)
    stop.set()
    for thread in threads:
        thread.join(30)

    failures = [(t - crashed_at, o) for t, o in results if o != 200]
    last_failure = max((t for t, _ in failures), default=0.0)
    kinds = sorted({str(o) for _, o in failures})
    print(
        f"\nprimary killed; replica promoted after {promoted_after:.1f} s; "
        f"{len(failures)} of {len(results)} introspections failed ({', '.join(kinds) or '-'}), "
        f"the last {last_failure:.1f} s after the crash"
    )
    assert "inactive" not in kinds  # a kept token never looked revoked
    assert all(o == 503 for _, o in failures), kinds  # fail closed, never a 500
    assert last_failure < promoted_after + 3  # users see errors only during the switch
    assert results[-1][1] == 200
    # Nothing revoked came back; new tokens work and can be revoked on the new primary.
    assert not any(active(t) for t in revoked)
    assert all(active(t) for t in kept)
    fresh = mint()
    requests.post(f"{base}/revoke", data={"token": fresh}, auth=auth, timeout=10)
    assert not active(fresh)
