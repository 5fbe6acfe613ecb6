"""PgBouncer in transaction mode in front of Postgres: the Postgres test leg passes through it.

idp keeps no session state on a connection (no SET, advisory lock, LISTEN or server-side
prepared statement; psycopg2 does not prepare), which is what transaction pooling needs.
"""

from __future__ import annotations

import os

import pytest
from sqlalchemy.engine import make_url

from idp.config import normalise_database_url

from .conftest import free_port, require, run_suite, service_urls, suite_paths, wait_for_port

TERMINATE_TEST = (
    "tests/flows/test_database_pool.py::"
    "test_a_connection_dropped_while_idle_is_replaced_before_the_request_uses_it"
)
CONFIG = """
[databases]
* = host={host} port={port}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {listen}
unix_socket_dir =
auth_type = trust
auth_file = {dir}/userlist.txt
pool_mode = transaction
max_client_conn = 500
default_pool_size = 20
ignore_startup_parameters = extra_float_digits,options
"""


@pytest.fixture(scope="module")
def pgbouncer_url(processes) -> str:
    server = make_url(normalise_database_url(service_urls()[0]))
    listen = free_port()
    (processes.workdir / "userlist.txt").write_text(f'"{server.username}" ""\n')
    config = processes.workdir / "pgbouncer.ini"
    config.write_text(
        CONFIG.format(
            host=server.host, port=server.port or 5432, listen=listen, dir=processes.workdir
        )
    )
    for path in (config, processes.workdir / "userlist.txt"):
        path.chmod(0o644)
    as_user = ["-u", "nobody"] if os.geteuid() == 0 else []  # pgbouncer refuses to run as root
    process = processes.start([require("pgbouncer"), *as_user, str(config)], "pgbouncer")
    wait_for_port(listen, process=process)
    return server.set(port=listen).render_as_string(hide_password=False)


def test_the_postgres_suite_passes_through_pgbouncer_in_transaction_mode(pgbouncer_url):
    _, redis_url = service_urls()
    paths = suite_paths("IDP_SCALE_PGBOUNCER_TESTS", "tests")
    result = run_suite(
        paths,
        {"IDP_TEST_DATABASE_URL": pgbouncer_url, "IDP_TEST_REDIS_URL": redis_url},
        1800,
        # It kills the server backend behind idp's pooled connection; through a transaction
        # pooler that backend is PgBouncer's, not idp's: see the restart test below instead.
        ("--deselect", f"{TERMINATE_TEST}"),
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert " passed" in result.stdout
    print(result.stdout.strip().splitlines()[-1])  # the child run's counts, shown by -rA


def test_idp_recovers_when_pgbouncer_restarts(processes, pgbouncer_url):
    """A PgBouncer restart drops idp's pooled connections: once they sat idle past
    idp.pool.PING_AFTER_IDLE_SECONDS, the next request gets a fresh one and succeeds."""
    import time

    import requests
    from sqlalchemy.engine import make_url

    from idp import pool

    from .conftest import Deployment

    deployment = Deployment(processes, service_urls()[1], IDP_WORKERS="1")
    try:
        bouncer = make_url(pgbouncer_url)
        direct = make_url(deployment.env["DATABASE_URL"])
        deployment.env["DATABASE_URL"] = direct.set(port=bouncer.port).render_as_string(False)
        port = free_port()
        deployment.start(port)
        (pgbouncer,) = [p for p in processes.started if "pgbouncer" in p.args[0]]
        processes.stop(pgbouncer)
        processes.start(list(pgbouncer.args), "pgbouncer")
        wait_for_port(bouncer.port)
        time.sleep(pool.PING_AFTER_IDLE_SECONDS + 1)
        assert requests.get(f"http://127.0.0.1:{port}/readyz", timeout=10).status_code == 200
    finally:
        deployment.close()
