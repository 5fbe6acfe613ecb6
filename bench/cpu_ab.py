"""CPU per client_credentials request, A/B, in one process: variants in interleaved batches.

Run with the server's environment against a seeded database (bench/seed.py):

    python bench/cpu_ab.py --seed DIR [--rounds 12] [--batch 150] base no-rate-limit

On a shared machine wall-clock rates swing with other load; process CPU time per request,
measured in alternating batches of each variant, is steadier, and the median over rounds
compares the variants under the same conditions. Variants: `base` (the code as it is) and
`no-rate-limit` (IDP_RATE_LIMIT_ENABLED=0), the cost of the per-IP limit check.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from idp import create_app

VARIANTS = {"base": {}, "no-rate-limit": {"rate_limit_enabled": False}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=Path, required=True, help="the directory seed.py wrote")
    parser.add_argument("--rounds", type=int, default=12)
    parser.add_argument("--batch", type=int, default=150)
    parser.add_argument("variants", nargs="+", choices=list(VARIANTS))
    args = parser.parse_args()
    env = dict(
        line.split("=", 1) for line in (args.seed / "bench.env").read_text().split() if "=" in line
    )
    headers = {"Authorization": "Basic " + env["BENCH_SERVICE_BASIC"].strip("'\"")}
    clients = {name: create_app(VARIANTS[name]).test_client() for name in args.variants}

    def issue(client) -> None:
        # buffered: the response is closed as a server closes it, so work idp does after the
        # response (draining the outbox) is counted too.
        response = client.post(
            "/token", data={"grant_type": "client_credentials"}, headers=headers, buffered=True
        )
        assert response.status_code == 200, response.get_data(as_text=True)

    for client in clients.values():
        for _ in range(50):  # warm: imports, pools, caches
            issue(client)
    cpu_ms: dict[str, list[float]] = {name: [] for name in clients}
    for _ in range(args.rounds):
        for name, client in clients.items():
            started = time.process_time()
            for _ in range(args.batch):
                issue(client)
            cpu_ms[name].append((time.process_time() - started) / args.batch * 1000)
    for name, values in cpu_ms.items():
        print(
            f"{name}: median {statistics.median(values):.3f} ms CPU/request,"
            f" min {min(values):.3f}, max {max(values):.3f} ({args.rounds} × {args.batch})"
        )


if __name__ == "__main__":
    main()
