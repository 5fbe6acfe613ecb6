"""Requests in one process, between two marker files: what bench/instructions.sh counts.

    python bench/request_loop.py --seed DIR --endpoint userinfo --requests 60 --markers DIR

Builds the app from the environment (a bench/lib.sh stack), sends 30 warm-up requests
through the Flask test client, creates MARKERS/ready, waits for MARKERS/go, sends the
counted requests, creates MARKERS/done and waits for MARKERS/exit. The caller switches the
instruction counter on and off in between (callgrind_control), so imports, app start and
warm-up are not counted.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path

from idp import create_app

ENDPOINTS = ("client_credentials", "userinfo", "refresh_token", "healthz")
WARM_UP = 30


def _wait_for(path: Path) -> None:
    while not path.exists():
        time.sleep(0.05)


def request_maker(client, seed: Path, endpoint: str, first_token: int) -> Callable[[], None]:
    lines = (seed / "bench.env").read_text().split()
    env = dict(line.split("=", 1) for line in lines if "=" in line)
    env = {key: value.strip("'\"") for key, value in env.items()}
    tokens = iter((seed / "refresh_tokens.txt").read_text().split()[first_token:])

    def send() -> None:
        if endpoint == "client_credentials":
            response = client.post(
                "/token",
                data={"grant_type": "client_credentials"},
                headers={"Authorization": "Basic " + env["BENCH_SERVICE_BASIC"]},
            )
        elif endpoint == "userinfo":
            response = client.get(
                "/userinfo", headers={"Authorization": "Bearer " + env["BENCH_USER_ACCESS_TOKEN"]}
            )
        elif endpoint == "refresh_token":
            response = client.post(
                "/token",
                data={"grant_type": "refresh_token", "refresh_token": next(tokens)},
                headers={"Authorization": "Basic " + env["BENCH_WEB_BASIC"]},
            )
        else:
            response = client.get("/healthz")
        if response.status_code != 200:
            body = response.get_data(as_text=True)
            raise SystemExit(f"{endpoint}: {response.status_code} {body}")

    return send


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=Path, required=True, help="the directory seed.py wrote")
    parser.add_argument("--endpoint", choices=ENDPOINTS, required=True)
    parser.add_argument("--requests", type=int, default=60)
    parser.add_argument("--first-token", type=int, default=0, help="refresh pool line to start at")
    parser.add_argument("--markers", type=Path, required=True)
    args = parser.parse_args()
    send = request_maker(create_app().test_client(), args.seed, args.endpoint, args.first_token)
    for _ in range(WARM_UP):
        send()
    (args.markers / "ready").touch()
    _wait_for(args.markers / "go")
    for _ in range(args.requests):
        send()
    (args.markers / "done").touch()
    _wait_for(args.markers / "exit")


if __name__ == "__main__":
    main()
