"""Many concurrent refreshes of one refresh token on PostgreSQL: one winner, no 5xx."""

from __future__ import annotations

import threading

import requests
from werkzeug.serving import make_server

from .conftest import register, sign_in_tokens

ROUNDS = 30
CONCURRENT = 12


def test_concurrent_refreshes_never_deadlock(make_fault_app, fault_user):
    server = make_server("127.0.0.1", 0, None, threaded=True)
    issuer = f"http://127.0.0.1:{server.server_port}"
    app = server.app = make_fault_app(issuer=issuer, db_pool_size=CONCURRENT)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    registered = register(app)
    failures = []
    try:
        for _ in range(ROUNDS):
            refresh_token = sign_in_tokens(app, registered, fault_user[1])["refresh_token"]
            barrier = threading.Barrier(CONCURRENT)
            statuses = []

            def refresh(refresh_token=refresh_token, barrier=barrier, statuses=statuses):
                barrier.wait()
                response = requests.post(
                    f"{issuer}/token",
                    data={"grant_type": "refresh_token", "refresh_token": refresh_token},
                    auth=registered,
                    timeout=30,
                )
                statuses.append(response.status_code)

            workers = [threading.Thread(target=refresh) for _ in range(CONCURRENT)]
            for worker in workers:
                worker.start()
            for worker in workers:
                worker.join()
            if statuses.count(200) != 1 or any(s >= 500 for s in statuses):
                failures.append(sorted(statuses))
    finally:
        server.shutdown()
        server.server_close()
    assert failures == []
