"""Verifications per second of idp-verifier (idp_verifier) on one core, with a warm JWKS cache.

    .venv/bin/python bench/verifier_bench.py [--rounds 7] [--count 5000] [--cpu 0]

Serves a discovery document and a JWKS (one RS256 and one ES256 key) on a loopback port,
mints access tokens shaped like idp's (header `alg`/`typ: at+jwt`/`kid`; claims `iss`, `sub`,
`aud`, `client_id`, `scope`, `roles`, `jti`, `iat`, `exp`), warms the verifier, then times
`Verifier.verify` on distinct tokens in one thread pinned to one CPU. For scale it also times
the raw signature check (joserfc's algorithm `verify` on a pre-split token: the floor) and
joserfc's generic `jwt.decode` plus claim validation (what a straightforward verifier does).
Prints the machine facts and a Markdown table of medians over the rounds.
"""

from __future__ import annotations

import argparse
import base64
import gc
import json
import os
import platform
import secrets
import statistics
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import cryptography  # noqa: E402
import joserfc  # noqa: E402
from cryptography.hazmat.backends.openssl.backend import backend as openssl  # noqa: E402
from idp_verifier import Verifier  # noqa: E402
from joserfc import jwt  # noqa: E402
from joserfc.jwk import ECKey, RSAKey  # noqa: E402
from joserfc.jws import JWSRegistry  # noqa: E402

TARGET_PER_SECOND = 15_000
AUDIENCE = "notes-app"


def machine_facts() -> dict[str, str]:
    model = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "CPU": f"{model}, {os.cpu_count()} logical CPUs visible",
        "OS": f"{platform.system()} {platform.release()}",
        "Python": f"{platform.python_implementation()} {platform.python_version()}",
        "joserfc": joserfc.__version__ if hasattr(joserfc, "__version__") else "?",
        "cryptography": f"{cryptography.__version__} ({openssl.openssl_version_text()})",
        "Load average at start": " ".join(f"{x:.2f}" for x in os.getloadavg()),
    }


class Issuer:
    """A discovery document and a JWKS on a loopback port, and tokens signed for them."""

    def __init__(self) -> None:
        self.keys = {
            "RS256": RSAKey.generate_key(2048, private=True),
            "ES256": ECKey.generate_key("P-256", private=True),
        }
        self.kids = {alg: key.thumbprint() for alg, key in self.keys.items()}
        jwks = {
            "keys": [
                key.as_dict(private=False, kid=self.kids[alg], alg=alg, use="sig")
                for alg, key in self.keys.items()
            ]
        }
        issuer_box: dict[str, str] = {}

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - http.server's hook name
                if self.path == "/.well-known/openid-configuration":
                    document = {
                        "issuer": issuer_box["issuer"],
                        "jwks_uri": issuer_box["issuer"] + "/jwks.json",
                    }
                elif self.path == "/jwks.json":
                    document = jwks
                else:
                    self.send_error(404)
                    return
                body = json.dumps(document).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.issuer = issuer_box["issuer"] = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def token(self, alg: str) -> str:
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "exp": now + 900,
            "client_id": AUDIENCE,
            "iat": now,
            "jti": secrets.token_urlsafe(16),
            "scope": "openid profile email notes:read",
            "sub": "6f1c2a0e-3c53-4a4e-9a0b-2b8f5c0d7e11",
            "aud": AUDIENCE,
            "roles": ["user"],
        }
        header = {"alg": alg, "typ": "at+jwt", "kid": self.kids[alg]}
        return jwt.encode(header, claims, self.keys[alg], algorithms=[alg])

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def rate(fn, items, rounds: int) -> tuple[float, list[float], float]:
    """Calls per second of fn over `items`: the median over `rounds` rounds of wall-clock
    time (perf_counter), every round's figure, and the median per second of this thread's
    CPU time (thread_time), which time spent preempted by other processes does not inflate.
    """
    for item in items[: max(200, len(items) // 10)]:  # warm-up
        fn(item)
    rates, cpu_rates = [], []
    for _ in range(rounds):
        gc.collect()
        start, cpu_start = time.perf_counter(), time.thread_time()
        for item in items:
            fn(item)
        rates.append(len(items) / (time.perf_counter() - start))
        cpu_rates.append(len(items) / max(time.thread_time() - cpu_start, 1e-9))
    return statistics.median(rates), rates, statistics.median(cpu_rates)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--count", type=int, default=5000, help="distinct tokens per round")
    parser.add_argument("--cpu", type=int, default=0, help="pin to this CPU (Linux)")
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {args.cpu})

    issuer = Issuer()
    facts = machine_facts()
    rows, cpu_rows = [], []
    try:
        for alg in ("RS256", "ES256"):
            tokens = [issuer.token(alg) for _ in range(args.count)]
            verifier = Verifier(issuer.issuer, audience=AUDIENCE, algorithms=("RS256", "ES256"))
            verifier.warm()
            verifier.verify(tokens[0])
            fetches = verifier.jwks_fetch_count

            model = JWSRegistry.algorithms[alg]
            public = issuer.keys[alg].__class__.import_key(issuer.keys[alg].as_dict(private=False))
            split = []
            for token in tokens:
                signing_input, _, signature = token.rpartition(".")
                split.append(
                    (signing_input.encode(), base64.urlsafe_b64decode(signature + "=" * 3))
                )

            def raw(item, model=model, public=public):
                if not model.verify(item[0], item[1], public):
                    raise AssertionError("bad signature")

            registry = jwt.JWTClaimsRegistry(
                iss={"essential": True, "value": issuer.issuer},
                aud={"essential": True, "value": AUDIENCE},
                exp={"essential": True},
            )

            def generic(token, alg=alg, public=public, registry=registry):
                decoded = jwt.decode(token, public, algorithms=[alg])
                registry.validate(decoded.claims)

            raw_rate, _, raw_cpu = rate(raw, split, args.rounds)
            generic_rate, _, generic_cpu = rate(generic, tokens, args.rounds)
            verify_rate, verify_rates, verify_cpu = rate(verifier.verify, tokens, args.rounds)
            assert verifier.jwks_fetch_count == fetches, "the cache was not warm"
            rows.append(
                (alg, raw_rate, generic_rate, verify_rate, verify_rates),
            )
            cpu_rows.append((alg, raw_cpu, generic_cpu, verify_cpu))
    finally:
        issuer.close()

    print("## Machine\n")
    for name, value in facts.items():
        print(f"- {name}: {value}")
    cpu = f"pinned to CPU {args.cpu}" if hasattr(os, "sched_setaffinity") else "not pinned"
    print(
        f"- Run: {args.rounds} rounds x {args.count} distinct tokens, one thread, {cpu}, "
        "median round\n"
    )
    print("Per second of wall-clock time (perf_counter):\n")
    print(
        "| alg | raw signature check | joserfc `jwt.decode` + claims | `Verifier.verify` "
        "| vs 15,000/s target | vs raw check |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for alg, raw_rate, generic_rate, verify_rate, _ in rows:
        print(
            f"| {alg} | {raw_rate:,.0f}/s ({1e6 / raw_rate:.1f} µs) "
            f"| {generic_rate:,.0f}/s ({1e6 / generic_rate:.1f} µs) "
            f"| **{verify_rate:,.0f}/s** ({1e6 / verify_rate:.1f} µs) "
            f"| {verify_rate / TARGET_PER_SECOND:.2f}x "
            f"| {verify_rate / raw_rate:.0%} |"
        )
    print()
    print("Per second of CPU time (thread_time; unaffected by time spent preempted):\n")
    print(
        "| alg | raw signature check | joserfc `jwt.decode` + claims | `Verifier.verify` "
        "| vs 15,000/s target | vs raw check |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for alg, raw_cpu, generic_cpu, verify_cpu in cpu_rows:
        print(
            f"| {alg} | {raw_cpu:,.0f}/s ({1e6 / raw_cpu:.1f} µs) "
            f"| {generic_cpu:,.0f}/s ({1e6 / generic_cpu:.1f} µs) "
            f"| **{verify_cpu:,.0f}/s** ({1e6 / verify_cpu:.1f} µs) "
            f"| {verify_cpu / TARGET_PER_SECOND:.2f}x "
            f"| {verify_cpu / raw_cpu:.0%} |"
        )
    print()
    for alg, *_, verify_rates in rows:
        spread = ", ".join(f"{r:,.0f}" for r in sorted(verify_rates))
        print(f"`Verifier.verify` {alg} rounds (/s): {spread}")


if __name__ == "__main__":
    main()
