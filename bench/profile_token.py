"""Count what one request costs, in-process: SQL statements, round trips, signatures, time.

Run against a seeded benchmark database with the server's environment (bench/profile_token.sh
does all of it):

    python bench/profile_token.py --seed DIR counts [--requests 500] [--show-sql]
    python bench/profile_token.py --seed DIR loop ENDPOINT [--requests N]     (for py-spy)
    python bench/profile_token.py --seed DIR what-ifs [--requests 500] [--repeats 3]

Requests go through the Flask test client, so the figures leave out gunicorn and the
network but include everything idp does: Flask, Authlib, SQLAlchemy, the psycopg2 round
trips to Postgres, Redis, signing. The counters only wrap library entry points (SQLAlchemy
events, the RSA sign call, the store, argon2); idp's code runs as it is.

`what-ifs` estimates the candidate optimisations by measuring them: each runs in its own
process with one change patched in at run time (never in idp/), and the table shows the
milliseconds per request it saves against the unchanged code.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

import redis
from argon2 import PasswordHasher
from joserfc._rfc7518 import jws_algs
from sqlalchemy import event

from idp import create_app
from idp.extensions import db

ENDPOINTS = ("client_credentials", "refresh_token", "introspect", "userinfo", "discovery", "jwks")
WARM_UP = 20
_TABLE = re.compile(r"\b(?:FROM|INTO|UPDATE)\s+(\w+)", re.I)

# name -> what it stands for in the report. Applied by apply_what_if().
# Already built in (so no longer what-ifs): the client cache, pinging only idle
# connections, queued audit rows for client_credentials and rotations.
WHAT_IFS = {
    "async-commit": "COMMIT without waiting for the WAL flush (synchronous_commit=off)",
    "no-audit-row": "no audit row at all (the ones not queued: code exchange, reuse...)",
    "es256": "ES256 instead of RS256 for access and ID tokens",
    "no-rate-limit": "no per-IP rate limit on the token endpoints (IDP_RATE_LIMIT_ENABLED=0)",
}


@dataclass
class Counters:
    statements: Counter = field(default_factory=Counter)
    statement_ms: Counter = field(default_factory=Counter)
    commits: int = 0
    pre_pings: int = 0
    resets: int = 0
    connects: int = 0
    redis_commands: int = 0
    rsa_signs: int = 0
    argon2_calls: int = 0
    sql_text: list[str] = field(default_factory=list)

    def reset(self) -> None:
        self.__init__()

    def bump(self, name: str) -> None:
        setattr(self, name, getattr(self, name) + 1)


COUNTERS = Counters()
BACKENDS: set[int] = set()  # Postgres backend PIDs of this process's connections
TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class Timing:
    """Per request: wall time, this process's CPU time, its Postgres backends' CPU time."""

    wall_ms: float
    cpu_ms: float
    pg_cpu_ms: float

    @property
    def total_cpu_ms(self) -> float:
        return self.cpu_ms + self.pg_cpu_ms


def backends_cpu_seconds() -> float:
    """CPU time used so far by this process's Postgres backends (same host, via /proc)."""
    total = 0
    for pid in BACKENDS:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # a backend that has gone, or a remote server
        total += int(fields[11]) + int(fields[12])  # utime + stime
    return total / TICKS


def _wrap(owner, name: str, counter: str) -> None:
    original = getattr(owner, name)

    def wrapper(*args, **kwargs):
        COUNTERS.bump(counter)
        return original(*args, **kwargs)

    setattr(owner, name, wrapper)


def instrument(app) -> None:
    """Hook the counters onto library entry points (never onto idp's own code)."""
    with app.app_context():
        engine = db.engine

    @event.listens_for(engine, "before_cursor_execute")
    def before(conn, cursor, statement, parameters, context, executemany):
        verb = statement.lstrip().split(None, 1)[0].upper()
        table = _TABLE.search(statement)
        kind = f"{verb} {table.group(1) if table else ''}".strip()
        conn.info["bench_statement"] = (kind, time.perf_counter())
        COUNTERS.statements[kind] += 1
        COUNTERS.sql_text.append(" ".join(statement.split())[:160])

    @event.listens_for(engine, "after_cursor_execute")
    def after(conn, cursor, statement, parameters, context, executemany):
        kind, started = conn.info.pop("bench_statement")
        COUNTERS.statement_ms[kind] += (time.perf_counter() - started) * 1000

    @event.listens_for(engine, "commit")
    def commit(conn):
        COUNTERS.commits += 1

    @event.listens_for(engine.pool, "reset")
    def reset(dbapi_connection, record, reset_state):
        COUNTERS.resets += 1

    @event.listens_for(engine.pool, "connect")
    def connect(dbapi_connection, record):
        COUNTERS.connects += 1
        # The backend serving this connection, to read its CPU time from /proc (raw cursor:
        # no SQLAlchemy event, so not counted as a statement).
        with dbapi_connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            BACKENDS.add(cursor.fetchone()[0])

    _wrap(engine.dialect, "do_ping", "pre_pings")
    # Every Redis client in the process (idp's store, the rate limiter's storage).
    _wrap(redis.Redis, "execute_command", "redis_commands")
    _wrap(jws_algs._RSAAlgModel, "sign", "rsa_signs")
    _wrap(PasswordHasher, "hash", "argon2_calls")
    _wrap(PasswordHasher, "verify", "argon2_calls")


def apply_what_if(app, name: str) -> None:
    """Patch one candidate optimisation into this process (experiment only)."""
    with app.app_context():
        engine = db.engine
    server = app.extensions["idp.oauth"]
    if name == "async-commit":

        @event.listens_for(engine.pool, "connect")
        def no_wal_wait(dbapi_connection, record):
            with dbapi_connection.cursor() as cursor:
                cursor.execute("SET synchronous_commit TO off")

        engine.dispose()
    elif name == "no-audit-row":
        from idp.services import audit

        audit.record = lambda *args, **kwargs: None
    elif name == "no-rate-limit":
        pass  # configuration, applied when the app is built
    elif name == "es256":
        from idp.oauth.grants import IdpOpenIDCode
        from idp.oauth.keys import generate_key

        keys = app.extensions["idp.keys"]
        if "ES256" not in keys.algorithms:
            generate_key(keys.keys_dir, "ES256")
            keys._load()
        server._token_generators["default"].alg = "ES256"
        IdpOpenIDCode.get_client_algorithm = lambda self, client: "ES256"
    else:
        raise SystemExit(f"profile: unknown what-if {name!r}; known: {', '.join(WHAT_IFS)}")


def read_env(path: Path) -> dict[str, str]:
    """The `export NAME='value'` lines seed.py wrote."""
    values = {}
    for line in path.read_text().splitlines():
        name, _, value = line.removeprefix("export ").partition("=")
        values[name] = value.strip("'")
    return values


def request_factory(client, endpoint: str, env: dict[str, str], refresh_tokens):
    """A zero-argument callable making one request of the kind the wrk script makes."""
    service = {"Authorization": f"Basic {env['BENCH_SERVICE_BASIC']}"}
    if endpoint == "client_credentials":
        return lambda: client.post(
            "/token", data={"grant_type": "client_credentials"}, headers=service
        )
    if endpoint == "refresh_token":
        web = {"Authorization": f"Basic {env['BENCH_WEB_BASIC']}"}
        return lambda: client.post(
            "/token",
            data={"grant_type": "refresh_token", "refresh_token": next(refresh_tokens)},
            headers=web,
        )
    if endpoint == "introspect":
        data = {"token": env["BENCH_SERVICE_ACCESS_TOKEN"], "token_type_hint": "access_token"}
        return lambda: client.post("/introspect", data=data, headers=service)
    if endpoint == "userinfo":
        bearer = {"Authorization": f"Bearer {env['BENCH_USER_ACCESS_TOKEN']}"}
        return lambda: client.get("/userinfo", headers=bearer)
    path = "/.well-known/openid-configuration" if endpoint == "discovery" else "/jwks.json"
    return lambda: client.get(path)


def check(response) -> None:
    body = response.get_json(silent=True)
    if response.status_code != 200 or (isinstance(body, dict) and body.get("active") is False):
        raise SystemExit(f"profile: unexpected answer {response.status_code} {body}")


def measure(make_request, requests: int) -> Timing:
    """Mean times per request; COUNTERS then hold the measured requests.

    CPU times matter most on a shared 2-core machine: other processes stretch wall time,
    not CPU time, and CPU is what bounds throughput under load.
    """
    for _ in range(WARM_UP):  # statement cache, pool, lazy imports
        check(make_request())
    COUNTERS.reset()
    wall, cpu, pg_cpu = time.perf_counter(), time.process_time(), backends_cpu_seconds()
    for _ in range(requests):
        check(make_request())
    return Timing(
        wall_ms=(time.perf_counter() - wall) * 1000 / requests,
        cpu_ms=(time.process_time() - cpu) * 1000 / requests,
        pg_cpu_ms=(backends_cpu_seconds() - pg_cpu) * 1000 / requests,
    )


def build(args, what_ifs: list[str]):
    env = read_env(args.seed / "bench.env")
    pool = (args.seed / "refresh_tokens.txt").read_text().split()
    refresh_tokens = iter(pool[args.skip_tokens :])
    app = create_app({"rate_limit_enabled": False} if "no-rate-limit" in what_ifs else None)
    instrument(app)
    for name in what_ifs:
        apply_what_if(app, name)
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = "127.0.0.1"
    return client, env, refresh_tokens


def counts(args) -> None:
    client, env, refresh_tokens = build(args, args.what_if)
    print(
        "| endpoint | wall ms | app CPU ms | Postgres CPU ms | SQL statements (wall ms each)"
        " | COMMIT | pre-ping | rollback on return | Redis cmds | RSA signs | argon2 |"
    )
    print("| --- |" + " ---: |" * 10)
    sql_samples = {}
    n = args.requests
    for endpoint in args.only or ENDPOINTS:
        timing = measure(request_factory(client, endpoint, env, refresh_tokens), n)
        c = COUNTERS
        kinds = ", ".join(
            f"{c.statements[k] / n:g}× {k} ({c.statement_ms[k] / c.statements[k]:.2f})"
            for k in sorted(c.statements)
        )
        print(
            f"| {endpoint} | {timing.wall_ms:.2f} | {timing.cpu_ms:.2f} | {timing.pg_cpu_ms:.2f}"
            f" | {kinds or '–'} | {c.commits / n:g} | {c.pre_pings / n:g}"
            f" | {c.resets / n:g} | {c.redis_commands / n:g} | {c.rsa_signs / n:g}"
            f" | {c.argon2_calls / n:g} |"
        )
        sql_samples[endpoint] = c.sql_text[: len(c.sql_text) // n]
    if args.show_sql:
        for endpoint, statements in sql_samples.items():
            print(f"\n{endpoint}, one request:")
            for statement in statements or ["(no SQL)"]:
                print(f"    {statement}")


def loop(args) -> None:
    """Requests of one kind, back to back, for a sampling profiler to watch."""
    client, env, refresh_tokens = build(args, args.what_if)
    timing = measure(request_factory(client, args.endpoint, env, refresh_tokens), args.requests)
    print(json.dumps({"endpoint": args.endpoint, **asdict(timing)}))


def what_ifs(args) -> None:
    """Baseline and each what-if, alone and all together, in fresh processes, interleaved."""
    import cpuwatch  # bench/, beside this file

    variants = [[], *[[name] for name in WHAT_IFS], list(WHAT_IFS)]
    endpoints = [e for e in args.only or ENDPOINTS if e not in ("discovery", "jwks")]
    results: dict[tuple[str, str], list[Timing]] = {}
    cursor = args.skip_tokens
    for _ in range(args.repeats):
        for variant in variants:
            for endpoint in endpoints:
                cpuwatch.wait_quiet(max_busy=15, timeout=args.quiet_timeout)
                command = [sys.executable, __file__, "--seed", str(args.seed)]
                command += ["--skip-tokens", str(cursor)]
                for name in variant:
                    command += ["--what-if", name]
                command += ["loop", endpoint, "--requests", str(args.requests)]
                output = subprocess.run(command, check=True, capture_output=True, text=True)
                if endpoint == "refresh_token":
                    cursor += args.requests + WARM_UP
                line = output.stdout.strip().splitlines()[-1]
                fields = {k: v for k, v in json.loads(line).items() if k != "endpoint"}
                label = " + ".join(variant) or "baseline"
                results.setdefault((label, endpoint), []).append(Timing(**fields))
    print(
        f"Medians of {args.repeats} processes × {args.requests} requests. CPU = the app process"
        " plus its Postgres backend, per request: what bounds throughput on this machine."
        " Wall = latency of one request on an otherwise idle server.\n"
    )
    for endpoint in endpoints:
        print(f"{endpoint}:\n")
        print("| change | app CPU ms | Postgres CPU ms | CPU saved | wall ms | wall saved |")
        print("| --- | ---: | ---: | ---: | ---: | ---: |")
        base = summary(results[("baseline", endpoint)])
        for variant in variants:
            label = " + ".join(variant) or "baseline"
            t = summary(results[(label, endpoint)])
            cpu_saved = base.total_cpu_ms - t.total_cpu_ms
            wall_saved = base.wall_ms - t.wall_ms
            name = "all of the above" if len(variant) > 1 else WHAT_IFS.get(label, label)
            print(
                f"| {name} | {t.cpu_ms:.2f} | {t.pg_cpu_ms:.2f}"
                f" | {cpu_saved:+.2f} ({cpu_saved / base.total_cpu_ms:.0%})"
                f" | {t.wall_ms:.2f} | {wall_saved:+.2f} ({wall_saved / base.wall_ms:.0%}) |"
            )
        print()
    print(f"refresh pool lines used up to {cursor}")


def summary(timings: list[Timing]) -> Timing:
    return Timing(
        wall_ms=statistics.median(t.wall_ms for t in timings),
        cpu_ms=statistics.median(t.cpu_ms for t in timings),
        pg_cpu_ms=statistics.median(t.pg_cpu_ms for t in timings),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=Path, required=True, help="the directory seed.py wrote")
    parser.add_argument("--skip-tokens", type=int, default=0, help="pool lines already spent")
    parser.add_argument("--what-if", action="append", default=[], choices=list(WHAT_IFS))
    commands = parser.add_subparsers(dest="command", required=True)
    counts_parser = commands.add_parser("counts")
    counts_parser.add_argument("--requests", type=int, default=500)
    counts_parser.add_argument("--only", choices=ENDPOINTS, action="append")
    counts_parser.add_argument("--show-sql", action="store_true", help="print each one's SQL")
    loop_parser = commands.add_parser("loop")
    loop_parser.add_argument("endpoint", choices=ENDPOINTS)
    loop_parser.add_argument("--requests", type=int, default=2000)
    matrix = commands.add_parser("what-ifs")
    matrix.add_argument("--requests", type=int, default=500)
    matrix.add_argument("--repeats", type=int, default=5)
    matrix.add_argument("--only", choices=ENDPOINTS, action="append")
    matrix.add_argument("--quiet-timeout", type=float, default=30)
    args = parser.parse_args()
    if args.command == "counts":
        print(f"pid {os.getpid()}; {args.requests} requests each after {WARM_UP} warm-up ones\n")
        counts(args)
    elif args.command == "loop":
        loop(args)
    else:
        what_ifs(args)


if __name__ == "__main__":
    main()
