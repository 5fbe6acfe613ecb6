"""Sum py-spy's raw (collapsed) stacks into the categories the benchmark report uses.

    python bench/stacks.py STACKS.txt [--ms-per-request MS] [--within FUNCTION]

Each sample is charged to the innermost frame that matches a rule below, walking from the
leaf towards the root, so time in the standard library (json, hashlib, socket...) goes to
the library that called it. With --ms-per-request (the wall time per request of the
profiled process: 1000 / its requests per second when it is saturated), shares are also
printed as milliseconds per request. With --within, only samples taken inside a function
of that name count (e.g. the measured loop, not the process's start-up).
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import Counter
from pathlib import Path

# (category, function regex, file regex), tried in order against each frame from the leaf.
# py-spy writes a frame as "function (path/to/file.py:line)".
RULES: list[tuple[str, str, str]] = [
    ("argon2 (must be zero)", r".", r"argon2/"),
    ("RS256 signature (RSA private-key op)", r"^_RSAAlgModel\.sign$", r"joserfc/"),
    ("Postgres round trip: statement", r"^DefaultDialect\.do_execute", r"sqlalchemy/engine/"),
    ("Postgres round trip: COMMIT (WAL flush)", r"^DefaultDialect\.do_commit$", r"sqlalchemy/"),
    ("Postgres round trip: ROLLBACK on return", r"^DefaultDialect\.do_rollback$", r"sqlalchemy/"),
    ("Postgres round trip: pool pre-ping", r"do_ping$", r"sqlalchemy/"),
    ("Postgres: connect", r"^(connect|_connect|.*\.connect)$", r"psycopg2/"),
    ("Redis round trip", r".", r"(^|/)redis/"),
    ("SQLAlchemy (ORM, SQL compile, results)", r".", r"sqlalchemy/"),
    ("idp audit.record (staging, logging)", r"^record$", r"idp/services/audit\.py"),
    ("logging", r".", r"(^|/)logging/"),
    ("JOSE other (JWS serialise, JWT verify)", r".", r"(joserfc|cryptography)/"),
    ("Authlib (grant, client auth, token)", r".", r"authlib/"),
    ("idp code", r".", r"(^|/)idp/"),
    ("Flask / Werkzeug", r".", r"(flask|werkzeug|flask_sqlalchemy|flask_wtf)/"),
    # gunicorn >= 23's sync worker half-closes and waits for the client's FIN after each
    # response (RFC 9112 §9.6): wall time the worker cannot serve anyone else.
    ("gunicorn: lingering close (waits for client FIN)", r"^close_graceful$", r"gunicorn/"),
    ("gunicorn: waiting for a connection", r"^(SyncWorker\.(wait|accept)|.*select)$", r"."),
    ("gunicorn: HTTP parsing, socket I/O", r".", r"gunicorn/"),
]
_FRAME = re.compile(r"^(?P<function>.*) \((?P<file>[^()]*?)(?::\d+)?\)$")
_COMPILED = [(name, re.compile(f), re.compile(p)) for name, f, p in RULES]


def categorise(frames: list[str]) -> str:
    for frame in reversed(frames):
        match = _FRAME.match(frame)
        if not match:
            continue
        for name, function, path in _COMPILED:
            if function.search(match["function"]) and path.search(match["file"]):
                return name
    return "other (interpreter, stdlib at top level)"


def summarise(lines: list[str], within: str | None = None) -> tuple[Counter, int]:
    totals: Counter = Counter()
    samples = 0
    for line in lines:
        stack, _, count = line.rstrip("\n").rpartition(" ")
        if not stack or not count.isdigit():
            continue
        if within and not any(f.startswith(f"{within} (") for f in stack.split(";")):
            continue
        # py-spy may prefix "process ...;thread ...;" frames: they match no rule.
        totals[categorise(stack.split(";"))] += int(count)
        samples += int(count)
    return totals, samples


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("stacks", type=Path)
    parser.add_argument("--ms-per-request", type=float, help="wall time per request")
    parser.add_argument("--within", help="count only samples inside this function")
    args = parser.parse_args()
    totals, samples = summarise(args.stacks.read_text().splitlines(), args.within)
    if not samples:
        print(f"stacks: no samples in {args.stacks}", file=sys.stderr)
        return 1
    if args.ms_per_request:
        print("| where the time goes | share | ms/request |\n| --- | ---: | ---: |")
    else:
        print("| where the time goes | share |\n| --- | ---: |")
    for name, count in totals.most_common():
        share = count / samples
        row = f"| {name} | {share:.1%} |"
        if args.ms_per_request:
            row += f" {share * args.ms_per_request:.2f} |"
        print(row)
    print(f"\n{samples} samples")
    return 0


if __name__ == "__main__":
    sys.exit(main())
