"""Tell whether the machine was the benchmark's alone: 2 cores are easily shared.

    python bench/cpuwatch.py wait-quiet [--max-busy 15] [--timeout 60]
    python bench/cpuwatch.py snapshot FILE
    python bench/cpuwatch.py foreign BEFORE AFTER --db NAME --pid PID [--pid PID ...]

`wait-quiet` returns once the whole machine is below --max-busy percent for 2 s (exit 0),
or after --timeout seconds (exit 1). `foreign` prints, as `bench: NAME=VALUE` lines that
bench/wrkstats.py reads, how busy the machine was between two snapshots, how much of it
was *not* the benchmark, and the CPU time each part of the benchmark used (app = gunicorn,
postgres, redis, wrk). The benchmark is the given PIDs and their descendants (gunicorn,
the driver shell whose reaped children include wrk), Postgres processes serving database
NAME or no database (WAL writer, checkpointer), and redis-server.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")


def machine_ticks() -> tuple[int, int]:
    """(busy, total) jiffies summed over every CPU since boot."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    total = sum(fields[:8])  # guest time is already counted in user
    return total - idle, total


def processes() -> dict[int, dict]:
    """pid -> parent, name, command line, own CPU ticks, reaped children's CPU ticks."""
    result = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
            cmdline = Path(entry.path, "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue  # exited meanwhile
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        rest = stat[stat.rindex(")") + 2 :].split()
        # After "pid (comm)": state ppid ... utime(11) stime(12) cutime(13) cstime(14).
        result[int(entry.name)] = {
            "ppid": int(rest[1]),
            "name": name,
            "cmdline": cmdline.strip(),
            "own": int(rest[11]) + int(rest[12]),
            "children": int(rest[13]) + int(rest[14]),
        }
    return result


def snapshot() -> dict:
    busy, total = machine_ticks()
    return {"busy": busy, "total": total, "procs": processes()}


def ours(procs: dict[int, dict], roots: set[int], db_name: str) -> set[int]:
    """The benchmark's processes: the roots and descendants, its Postgres and Redis."""
    selected = set(roots)
    changed = True
    while changed:
        changed = False
        for pid, proc in procs.items():
            if pid not in selected and proc["ppid"] in selected:
                selected.add(pid)
                changed = True
    for pid, proc in procs.items():
        cmdline = proc["cmdline"]
        if proc["name"] == "redis-server":
            selected.add(pid)
        elif cmdline.startswith("postgres:"):
            # Backends name their database; background processes (walwriter...) name none.
            backend = " 127.0.0.1(" in cmdline or "[local]" in cmdline
            if db_name in cmdline or not backend:
                selected.add(pid)
    return selected


def group(proc: dict) -> str:
    """Which part of the benchmark a process is, for the CPU-per-request figures."""
    if proc["name"] == "redis-server":
        return "redis"
    if proc["cmdline"].startswith("postgres:"):
        return "postgres"
    if "gunicorn" in proc["cmdline"]:
        return "app"
    return "wrk"  # the driver shell, whose reaped children (wrk, timeout) it accounts


def foreign(before: dict, after: dict, roots: set[int], db_name: str) -> dict[str, int]:
    """Percent of the machine (all CPUs) that was busy, and busy with something else;
    CPU milliseconds each part of the benchmark used."""
    before_procs = {int(k): v for k, v in before["procs"].items()}
    after_procs = {int(k): v for k, v in after["procs"].items()}
    selected = ours(after_procs, roots, db_name) | ours(before_procs, roots, db_name)
    used = dict.fromkeys(("app", "postgres", "redis", "wrk"), 0)
    for pid in selected:
        now = after_procs.get(pid)
        if now is None:
            continue
        then = before_procs.get(pid, {"own": 0, "children": 0})
        used[group(now)] += (now["own"] - then["own"]) + (now["children"] - then["children"])
    total = after["total"] - before["total"]
    busy = after["busy"] - before["busy"]
    if total <= 0:
        return {"machine_busy_pct": 0, "foreign_cpu_pct": 0}
    return {
        "machine_busy_pct": round(100 * busy / total),
        "foreign_cpu_pct": max(0, round(100 * (busy - sum(used.values())) / total)),
        **{f"cpu_ms_{name}": round(ticks * 1000 / TICKS) for name, ticks in used.items()},
    }


def wait_quiet(max_busy: float, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        busy0, total0 = machine_ticks()
        time.sleep(2)
        busy1, total1 = machine_ticks()
        if total1 > total0 and 100 * (busy1 - busy0) / (total1 - total0) < max_busy:
            return True
        if time.monotonic() >= deadline:
            return False


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    quiet = commands.add_parser("wait-quiet")
    quiet.add_argument("--max-busy", type=float, default=15.0)
    quiet.add_argument("--timeout", type=float, default=60.0)
    snap = commands.add_parser("snapshot")
    snap.add_argument("file", type=Path)
    compare = commands.add_parser("foreign")
    compare.add_argument("before", type=Path)
    compare.add_argument("after", type=Path)
    compare.add_argument("--db", required=True)
    compare.add_argument("--pid", type=int, action="append", default=[])
    args = parser.parse_args()

    if args.command == "wait-quiet":
        return 0 if wait_quiet(args.max_busy, args.timeout) else 1
    if args.command == "snapshot":
        args.file.write_text(json.dumps(snapshot()))
        return 0
    before, after = (json.loads(p.read_text()) for p in (args.before, args.after))
    for name, value in foreign(before, after, set(args.pid), args.db).items():
        print(f"bench: {name}={value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
