"""Redis Cluster (three primaries): every idp Redis feature works on it.

idp sends one key per command (store.py), and Flask-Limiter's sliding windows keep their two
keys under one hash tag, so no command can span slots; the default suite run against the
cluster proves it, since a cross-slot command fails with CROSSSLOT.
"""

from __future__ import annotations

import subprocess
import time

import pytest

from .conftest import free_port, require, run_suite, service_urls, suite_paths, wait_for_port


@pytest.fixture(scope="module")
def cluster_url(processes) -> str:
    redis_server, redis_cli = require("redis-server"), require("redis-cli")
    ports = [free_port() for _ in range(3)]
    for port in ports:
        data = processes.workdir / f"cluster-{port}"
        data.mkdir()
        processes.start(
            [
                redis_server,
                "--bind",
                "127.0.0.1",
                "--port",
                str(port),
                "--cluster-enabled",
                "yes",
                "--cluster-port",
                str(free_port()),
                "--cluster-config-file",
                str(data / "nodes.conf"),
                "--dir",
                str(data),
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            f"redis-cluster-{port}",
        )
    for port in ports:
        wait_for_port(port)
    subprocess.run(
        [
            redis_cli,
            "--cluster",
            "create",
            *(f"127.0.0.1:{p}" for p in ports),
            "--cluster-replicas",
            "0",
            "--cluster-yes",
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    deadline = time.monotonic() + 30
    while (
        b"cluster_state:ok"
        not in subprocess.run(
            [redis_cli, "-p", str(ports[0]), "cluster", "info"], capture_output=True, check=True
        ).stdout
    ):
        assert time.monotonic() < deadline, "the cluster did not reach cluster_state:ok"
        time.sleep(0.2)
    return "redis+cluster://" + ",".join(f"127.0.0.1:{p}" for p in ports)


def test_the_store_spreads_keys_over_the_three_primaries(cluster_url):
    from idp.store import RedisStore

    store = RedisStore(cluster_url, "idp-scale:")
    for n in range(60):
        store.put(f"k{n}", "v", 60)
    nodes = store._redis.get_primaries()
    assert len(nodes) == 3
    per_node = [store._redis.dbsize(target_nodes=node) for node in nodes]
    assert all(count > 0 for count in per_node), per_node
    assert store.get("k1") == "v"
    store.delete("k1")
    assert store.get("k1") is None
    assert store.add("once", "1", 60) and not store.add("once", "2", 60)
    store.delete_prefix()
    assert sum(store._redis.dbsize(target_nodes=node) for node in nodes) == 0
    store.close()


# The modules whose flows use Redis: parked sign-ins and consent, the blocklist, jti replay,
# rate limits and throttles, the refresh retry window, MFA enrolment and TOTP steps,
# sessions. IDP_SCALE_CLUSTER_TESTS="tests/flows tests/verifier" runs everything (about
# 20 minutes on a loaded 2-core machine).
REDIS_MODULES = (
    " ".join(
        f"tests/flows/test_{name}.py"
        for name in (
            "authorization_code_flow",
            "abuse",
            "revocation_introspection",
            "refresh_tokens",
            "client_credentials",
            "mfa",
            "sessions",
            "accounts",
        )
    )
    + " tests/verifier/test_revocation.py"
)


def test_every_idp_redis_feature_works_on_a_cluster(cluster_url):
    """The flows that use Redis pass with the cluster as their Redis."""
    database_url, _ = service_urls()
    paths = suite_paths("IDP_SCALE_CLUSTER_TESTS", REDIS_MODULES)
    result = run_suite(
        paths, {"IDP_TEST_DATABASE_URL": database_url, "IDP_TEST_REDIS_URL": cluster_url}, 1800
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert " passed" in result.stdout
    print(result.stdout.strip().splitlines()[-1])  # the child run's counts, shown by -rA
