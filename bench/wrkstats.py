"""Parse wrk outputs and summarise a benchmark run as Markdown.

    python bench/wrkstats.py parse FILE        one wrk output -> one JSON line
    python bench/wrkstats.py brief FILE        one wrk output -> one human line
    python bench/wrkstats.py table RESULTS     medians of every configuration -> Markdown
    python bench/wrkstats.py compare RESULTS   idp vs the peer (bench/compare.sh) -> Markdown

RESULTS is laid out by bench/run_token_bench.sh as
RESULTS/raw/<worker class>-w<workers>/<endpoint>.<run>.txt, and by bench/compare.sh as
RESULTS/raw/{peer,idp}/<endpoint>.<run>.txt.
"""

from __future__ import annotations

import json
import os
import re
import statistics
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

# Endpoint name -> (label, target req/s or None). Order is the table's row order.
ENDPOINTS = {
    "client_credentials": ("POST /token client_credentials", 1000),
    "refresh_token": ("POST /token refresh_token (rotation)", 400),
    "introspect": ("POST /introspect", None),
    "userinfo": ("GET /userinfo", None),
    "discovery": ("GET /.well-known/openid-configuration", 3000),
    "jwks": ("GET /jwks.json", 3000),
}
P99_TARGET_MS = 100.0
CPU_PARTS = ("app", "postgres", "redis", "wrk")

_TIME_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}
_COUNT_UNITS = {"": 1.0, "k": 1e3, "M": 1e6, "G": 1e9}
_RPS = re.compile(r"^Requests/sec:\s+([\d.]+)([kMG]?)\s*$", re.M)
_PERCENTILE = re.compile(r"^\s*(50|99)(?:\.0+)?%\s+([\d.]+)(us|ms|s|m|h)\s*$", re.M)
_TOTAL = re.compile(r"^\s*(\d+) requests in ", re.M)
_NON_2XX = re.compile(r"^\s*Non-2xx or 3xx responses:\s+(\d+)", re.M)
_SOCKET = re.compile(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", re.M)
_SOCKET_KINDS = ("connect", "read", "write", "timeout")
_BENCH = re.compile(r"^bench: (\w+)=(\d+)\s*$", re.M)
# Counters from the Lua scripts that mean a wrong answer wrk did not count. (`exhausted`,
# refresh requests sent without a fresh token, is not one: they are answered 400.)
_LUA_ERRORS = ("inactive",)


class WrkParseError(ValueError):
    """The text is not a complete `wrk --latency` report."""


@dataclass
class WrkResult:
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    requests: int
    non_2xx: int = 0
    socket_errors: dict[str, int] = field(default_factory=dict)
    counters: dict[str, int] = field(default_factory=dict)

    @property
    def errors(self) -> int:
        """Everything that was not a correct 2xx answer."""
        lua = sum(self.counters.get(name, 0) for name in _LUA_ERRORS)
        return self.non_2xx + sum(self.socket_errors.values()) + lua


def parse(text: str) -> WrkResult:
    """Read one `wrk --latency` output; raise WrkParseError when a figure is missing."""
    rps = _RPS.search(text)
    percentiles = {p: float(v) * _TIME_UNITS_MS[u] for p, v, u in _PERCENTILE.findall(text)}
    total = _TOTAL.search(text)
    if not rps or "50" not in percentiles or "99" not in percentiles or not total:
        raise WrkParseError("no Requests/sec, 50%/99% latency or request count (use --latency)")
    non_2xx = _NON_2XX.search(text)
    socket = _SOCKET.search(text)
    return WrkResult(
        requests_per_s=float(rps.group(1)) * _COUNT_UNITS[rps.group(2)],
        p50_ms=percentiles["50"],
        p99_ms=percentiles["99"],
        requests=int(total.group(1)),
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
        socket_errors=(
            dict(zip(_SOCKET_KINDS, map(int, socket.groups()), strict=True)) if socket else {}
        ),
        counters={name: int(value) for name, value in _BENCH.findall(text)},
    )


@dataclass
class Summary:
    """The medians of the runs of one endpoint in one configuration."""

    runs: int
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    errors: int  # summed over the runs: any error at all is a finding
    foreign_cpu_pct: int  # the worst run: CPU other processes took (bench/cpuwatch.py)
    cpu_ms: dict[str, float]  # CPU ms per request by part (app, postgres, redis, wrk)


def summarise(results: list[WrkResult]) -> Summary:
    return Summary(
        runs=len(results),
        requests_per_s=statistics.median(r.requests_per_s for r in results),
        p50_ms=statistics.median(r.p50_ms for r in results),
        p99_ms=statistics.median(r.p99_ms for r in results),
        errors=sum(r.errors for r in results),
        foreign_cpu_pct=max(r.counters.get("foreign_cpu_pct", 0) for r in results),
        cpu_ms={
            part: statistics.median(
                r.counters.get(f"cpu_ms_{part}", 0) / max(r.requests, 1) for r in results
            )
            for part in CPU_PARTS
        },
    )


_CONFIG_DIR = re.compile(r"^(?P<worker_class>[a-z]+(?:\d+)?)-w(?P<workers>\d+)$")


def load(results_dir: Path) -> dict[tuple[str, int], dict[str, Summary]]:
    """(worker class, workers) -> endpoint -> Summary, from RESULTS/raw."""
    table: dict[tuple[str, int], dict[str, Summary]] = {}
    for config_dir in sorted((results_dir / "raw").iterdir()):
        match = _CONFIG_DIR.match(config_dir.name)
        if not match or not config_dir.is_dir():
            continue
        key = (match["worker_class"], int(match["workers"]))
        for endpoint in ENDPOINTS:
            runs = sorted(config_dir.glob(f"{endpoint}.*.txt"))
            if runs:
                parsed = [parse(path.read_text()) for path in runs]
                table.setdefault(key, {})[endpoint] = summarise(parsed)
    return table


def _ratio(summary: Summary, target: float | None) -> str:
    rps = f"{summary.requests_per_s / target:.2f}×" if target else "–"
    p99 = "ok" if summary.p99_ms < P99_TARGET_MS else f"**{summary.p99_ms / P99_TARGET_MS:.1f}×**"
    return f"{rps} | {p99}"


def markdown(table: dict[tuple[str, int], dict[str, Summary]]) -> str:
    """One table per worker class, then sync vs. gthread side by side."""
    lines: list[str] = [
        "Medians of the runs; errors summed over them; other CPU: the most that processes"
        " outside the benchmark took of the machine during one run.",
        "",
    ]
    classes = sorted({worker_class for worker_class, _ in table}, key=lambda c: c != "sync")
    for worker_class in classes:
        lines += [
            f"#### `{worker_class}` workers",
            "",
            "| endpoint | workers | req/s | p50 ms | p99 ms | errors | req/s vs target"
            " | p99 vs 100 ms | other CPU |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        for endpoint, (label, target) in ENDPOINTS.items():
            for (cls, workers), by_endpoint in sorted(table.items()):
                summary = by_endpoint.get(endpoint)
                if cls != worker_class or summary is None:
                    continue
                target_text = f" (≥ {target:,})" if target else ""
                lines.append(
                    f"| {label}{target_text} | {workers} | {summary.requests_per_s:,.0f}"
                    f" | {summary.p50_ms:.1f} | {summary.p99_ms:.1f} | {summary.errors}"
                    f" | {_ratio(summary, target)} | {summary.foreign_cpu_pct}% |"
                )
        lines.append("")
    if len(classes) > 1:
        lines += _comparison(table, classes)
    lines += _cpu_budget(table, classes)
    return "\n".join(lines)


def _cpu_budget(table, classes: list[str]) -> list[str]:
    """CPU time per request of each process group, and the rate the machine could sustain
    if that were all it did: the ceiling each figure runs into."""
    cores = os.cpu_count() or 1
    lines = [
        "#### CPU time per request, by process (ms, median run)",
        "",
        f"ceiling = {cores} cores × 1000 / total: the rate at which the benchmark's own"
        " processes would use the whole machine.",
        "",
        "| endpoint | config | app (gunicorn) | postgres | redis | wrk | total | ceiling req/s"
        " | measured |",
        "| --- | --- |" + " ---: |" * 7,
    ]
    for endpoint, (label, _) in ENDPOINTS.items():
        for worker_class in classes:
            for (cls, workers), by_endpoint in sorted(table.items()):
                summary = by_endpoint.get(endpoint)
                if cls != worker_class or summary is None:
                    continue
                total = sum(summary.cpu_ms.values())
                if not total:
                    continue
                parts = " | ".join(f"{summary.cpu_ms[p]:.2f}" for p in CPU_PARTS)
                lines.append(
                    f"| {label} | {cls} ×{workers} | {parts} | {total:.2f}"
                    f" | {cores * 1000 / total:,.0f} | {summary.requests_per_s:,.0f} |"
                )
    lines.append("")
    return lines


def _comparison(table, classes: list[str]) -> list[str]:
    head = " | ".join(f"{c} req/s | {c} p99" for c in classes)
    lines = [
        "#### Worker classes side by side (median req/s, p99 ms)",
        "",
        f"| endpoint | workers | {head} |",
        "| --- | ---: |" + " ---: |" * (2 * len(classes)),
    ]
    workers_seen = sorted({w for _, w in table})
    for endpoint, (label, _) in ENDPOINTS.items():
        for workers in workers_seen:
            cells = []
            for worker_class in classes:
                summary = table.get((worker_class, workers), {}).get(endpoint)
                cells.append(
                    f"{summary.requests_per_s:,.0f} | {summary.p99_ms:.1f}" if summary else "– | –"
                )
            if any(cell != "– | –" for cell in cells):
                lines.append(f"| {label} | {workers} | {' | '.join(cells)} |")
    lines.append("")
    return lines


# Endpoint -> (label, goal: idp req/s as a multiple of the peer's), for `compare`.
PEER_GOALS = {
    "discovery": ("discovery", 3.0),
    "jwks": ("JWKS", 3.0),
    "userinfo": ("userinfo", 1.0),
    "client_credentials": ("token, client_credentials", 1.0),
    "refresh_token": ("token, refresh rotation", 1.0),
}
PEER_P99_LIMIT = 1.5  # idp's p99 at most this multiple of the peer's


def _spread(values: list[float]) -> str:
    return f"{min(values):,.0f}–{max(values):,.0f}"


def compare(results_dir: Path) -> str:
    """Median of the runs per endpoint for the peer and idp, the spread and the ratios."""
    lines = [
        "| endpoint | peer req/s (spread) | peer p50 / p99 ms | idp req/s (spread)"
        " | idp p50 / p99 ms | ratio req/s (goal) | ratio p99 (≤ 1.5) | errors peer / idp |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for endpoint, (label, goal) in PEER_GOALS.items():
        runs = {}
        for target in ("peer", "idp"):
            paths = sorted((results_dir / "raw" / target).glob(f"{endpoint}.*.txt"))
            runs[target] = [parse(path.read_text()) for path in paths if path.stat().st_size]
        if not runs["peer"] or not runs["idp"]:
            continue
        peer, idp = summarise(runs["peer"]), summarise(runs["idp"])
        ratio = idp.requests_per_s / peer.requests_per_s
        p99_ratio = idp.p99_ms / peer.p99_ms if peer.p99_ms else float("inf")
        met = "met" if ratio >= goal else "**not met**"
        p99_met = "" if p99_ratio <= PEER_P99_LIMIT else " **over**"
        spread = {t: _spread([r.requests_per_s for r in runs[t]]) for t in runs}
        lines.append(
            f"| {label} | {peer.requests_per_s:,.0f} ({spread['peer']})"
            f" | {peer.p50_ms:.1f} / {peer.p99_ms:.1f}"
            f" | {idp.requests_per_s:,.0f} ({spread['idp']})"
            f" | {idp.p50_ms:.1f} / {idp.p99_ms:.1f}"
            f" | {ratio:.2f}× (≥ {goal:g}×, {met}) | {p99_ratio:.2f}×{p99_met}"
            f" | {peer.errors} / {idp.errors} |"
        )
    runs_count = max(
        (len(list((results_dir / "raw" / "idp").glob(f"{e}.*.txt"))) for e in PEER_GOALS),
        default=0,
    )
    lines += ["", f"Medians of {runs_count} runs; spread = lowest–highest run."]
    lines += _compare_cpu(results_dir)
    return "\n".join(lines)


def _cpu_per_request(result: WrkResult, part: str) -> float | None:
    """CPU ms per request of one part (server, postgres, redis), from compare.sh's lines."""
    value = result.counters.get(f"cpu_us_{part}")
    return None if value is None else value / 1000 / max(result.requests, 1)


def _compare_cpu(results_dir: Path) -> list[str]:
    """CPU per request of each server and of Postgres and Redis (medians of the runs):
    steadier than req/s when the machine is shared, and what a ratio is made of."""
    lines = [
        "",
        "CPU per request (ms, medians of the runs; Postgres and Redis are whole servers,"
        " shared with anything else using them; busy = the whole machine during the runs):",
        "",
        "| endpoint | peer (node) | idp (workers) | idp Postgres | idp Redis"
        " | server CPU ratio idp/peer | machine busy peer / idp |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    found = False
    for endpoint, (label, _) in PEER_GOALS.items():
        runs = {}
        for target in ("peer", "idp"):
            paths = sorted((results_dir / "raw" / target).glob(f"{endpoint}.*.txt"))
            runs[target] = [parse(path.read_text()) for path in paths if path.stat().st_size]
        cells = {}
        for target in ("peer", "idp"):
            for part in ("server", "postgres", "redis"):
                values = [v for r in runs[target] if (v := _cpu_per_request(r, part)) is not None]
                cells[target, part] = statistics.median(values) if values else None
            busy = [
                r.counters["machine_busy_pct"]
                for r in runs[target]
                if "machine_busy_pct" in r.counters
            ]
            cells[target, "busy"] = statistics.median(busy) if busy else None
        if cells["peer", "server"] is None or cells["idp", "server"] is None:
            continue
        found = True
        ratio = cells["idp", "server"] / cells["peer", "server"] if cells["peer", "server"] else 0
        lines.append(
            f"| {label} | {cells['peer', 'server']:.3f} | {cells['idp', 'server']:.3f}"
            f" | {cells['idp', 'postgres'] or 0:.3f} | {cells['idp', 'redis'] or 0:.3f}"
            f" | {ratio:.2f}× | {cells['peer', 'busy']:.0f}% / {cells['idp', 'busy']:.0f}% |"
        )
    return lines if found else []


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in ("parse", "brief", "table", "compare"):
        print(__doc__, file=sys.stderr)
        return 2
    command, target = argv[0], Path(argv[1])
    try:
        if command == "parse":
            result = parse(target.read_text())
            print(json.dumps({**asdict(result), "errors": result.errors}))
        elif command == "brief":
            result = parse(target.read_text())
            print(
                f"{result.requests_per_s:,.0f} req/s, p50 {result.p50_ms:.1f} ms,"
                f" p99 {result.p99_ms:.1f} ms, errors {result.errors}"
            )
        elif command == "compare":
            print(compare(target))
        else:
            print(markdown(load(target)))
    except (OSError, WrkParseError) as exc:
        print(f"wrkstats: {target}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
