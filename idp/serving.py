"""The production server behind `idp serve --production`: granian's WSGI interface.

Chosen by measurement (docs/benchmarks.md, "Choosing the production server"): granian parses
HTTP and keeps connections alive in Rust, outside the GIL, so idle or slow sockets never hold
a Python worker (200 idle connections froze gunicorn's sync workers for 75 s), and the cheap
endpoints run several times faster than under gunicorn. gunicorn stays supported with
gunicorn.conf.py; both read the same IDP_* server variables where they mean the same thing.

Each worker process builds its own app (`idp:create_app`, after the fork) and runs it on a
few threads: the work is CPU-bound under the GIL, so more threads only add latency, and
each thread may hold a database connection.
"""

from __future__ import annotations

import multiprocessing
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass

from .config import ConfigError

DEFAULT_BIND = "0.0.0.0:8000"
APP_FACTORY = "idp:create_app"
LOG_LEVELS = ("critical", "error", "warning", "info", "debug")
# The server's own lines in the same JSON shape as idp's (observability.configure_logging),
# on stderr. The access line names the path, never the query string (codes, tokens).
ACCESS_LOG_FORMAT = (
    '{"time": "%(time)s", "remote": "%(addr)s", "method": "%(method)s", "path": "%(path)s", '
    '"status": %(status)d, "duration_ms": %(dt_ms).2f}'
)
_JSON_FORMATTER = {
    "()": "pythonjsonlogger.json.JsonFormatter",
    "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s",
    "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
}
LOG_CONFIG = {
    "formatters": {
        "generic": _JSON_FORMATTER,
        "access": {"()": "logging.Formatter", "fmt": "%(message)s"},
    },
    "handlers": {
        "console": {"formatter": "generic", "class": "logging.StreamHandler"},
        "access": {"formatter": "access", "class": "logging.StreamHandler"},
    },
}


@dataclass(frozen=True)
class ServerSettings:
    """What the production server needs; every field has an IDP_* variable."""

    host: str = "0.0.0.0"  # noqa: S104 - a container's server listens on every interface
    port: int = 8000
    workers: int = 2  # IDP_WORKERS; default one per core
    threads: int = 2  # IDP_THREADS: requests a worker runs at once (one DB connection each)
    graceful_timeout: int = 30  # IDP_GRACEFUL_TIMEOUT: seconds a stopping worker may drain
    keepalive: bool = True  # IDP_KEEPALIVE=0 closes every connection after its response
    header_timeout: int = 10  # IDP_HEADER_TIMEOUT: seconds to receive a request's headers
    worker_lifetime: int = 0  # IDP_WORKER_LIFETIME: recycle workers after N s (0: never)
    worker_max_rss: int = 0  # IDP_WORKER_MAX_RSS: recycle a worker above N MiB (0: never)
    # IDP_MAX_CONNECTIONS: open connections a worker accepts (granian's backpressure counts
    # connections, idle keep-alive ones included); beyond it they wait in the kernel's queue.
    max_connections: int = 1000
    backlog: int = 1024  # IDP_BACKLOG: pending connections the kernel queues
    access_log: bool = False  # IDP_ACCESS_LOG: the server's own line per request
    log_level: str = "info"  # IDP_LOG_LEVEL


def _int(env: Mapping[str, str], name: str, default: int, minimum: int) -> int:
    raw = env.get(name, "")
    if raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, got {raw!r}") from None
    if value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}, got {value}")
    return value


def _split_bind(bind: str) -> tuple[str, int]:
    host, sep, port = bind.rpartition(":")
    if not sep or not port.isdigit() or not host:
        raise ConfigError(f"IDP_BIND must be HOST:PORT, got {bind!r}")
    return host.strip("[]"), int(port)


def settings_from_env(
    env: Mapping[str, str] | None = None,
    host: str | None = None,
    port: int | None = None,
    workers: int | None = None,
) -> ServerSettings:
    """Read IDP_* server variables; command-line values win. Raise ConfigError when bad."""
    env = os.environ if env is None else env
    bind_host, bind_port = _split_bind(env.get("IDP_BIND") or DEFAULT_BIND)
    if _int(env, "IDP_MAX_REQUESTS", 0, 0):
        raise ConfigError(
            "IDP_MAX_REQUESTS is a gunicorn setting; under `idp serve --production` recycle "
            "workers with IDP_WORKER_LIFETIME (seconds) or IDP_WORKER_MAX_RSS (MiB)"
        )
    lifetime = _int(env, "IDP_WORKER_LIFETIME", 0, 0)
    if 0 < lifetime < 60:
        raise ConfigError("IDP_WORKER_LIFETIME must be 0 (never) or at least 60 seconds")
    header_timeout = _int(env, "IDP_HEADER_TIMEOUT", 10, 1)
    if header_timeout > 60:
        raise ConfigError("IDP_HEADER_TIMEOUT must be at most 60 seconds")
    keepalive = env.get("IDP_KEEPALIVE", "")
    log_level = (env.get("IDP_LOG_LEVEL") or "info").lower()
    if log_level not in LOG_LEVELS:
        raise ConfigError(
            f"IDP_LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}, got {log_level!r}"
        )
    return ServerSettings(
        host=host or bind_host,
        port=port if port is not None else bind_port,
        workers=workers or _int(env, "IDP_WORKERS", multiprocessing.cpu_count(), 1),
        threads=_int(env, "IDP_THREADS", 2, 1),
        graceful_timeout=_int(env, "IDP_GRACEFUL_TIMEOUT", 30, 1),
        keepalive=keepalive.strip().lower() not in ("0", "false", "no", "off"),
        header_timeout=header_timeout,
        worker_lifetime=lifetime,
        worker_max_rss=_int(env, "IDP_WORKER_MAX_RSS", 0, 0),
        max_connections=_int(env, "IDP_MAX_CONNECTIONS", 1000, 1),
        backlog=_int(env, "IDP_BACKLOG", 1024, 128),
        access_log=bool(env.get("IDP_ACCESS_LOG")),
        log_level=log_level,
    )


def build_server(settings: ServerSettings):
    """The granian server for `settings` (not started)."""
    from granian import Granian
    from granian.constants import HTTPModes, Interfaces
    from granian.http import HTTP1Settings
    from granian.log import LogLevels

    return Granian(
        APP_FACTORY,
        factory=True,
        interface=Interfaces.WSGI,
        address=settings.host,
        port=settings.port,
        workers=settings.workers,
        blocking_threads=settings.threads,
        backpressure=settings.max_connections,
        backlog=settings.backlog,
        http=HTTPModes.http1,  # TLS (and with it HTTP/2) ends at the proxy
        http1_settings=HTTP1Settings(
            keep_alive=settings.keepalive,
            header_read_timeout=settings.header_timeout * 1000,
        ),
        websockets=False,
        log_level=LogLevels(settings.log_level),
        log_dictconfig=LOG_CONFIG,
        log_access=settings.access_log,
        log_access_format=ACCESS_LOG_FORMAT,
        respawn_failed_workers=True,
        workers_lifetime=settings.worker_lifetime or None,
        workers_max_rss=settings.worker_max_rss or None,
        workers_kill_timeout=settings.graceful_timeout,
    )


def prepare_environment() -> None:
    """Set what every worker must inherit, before anything imports prometheus_client."""
    # Prometheus multiprocess mode: each worker writes its metrics here; /metrics merges them.
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="idp-metrics-")


def serve(settings: ServerSettings) -> None:
    """Run the production server in the foreground until SIGTERM or SIGINT."""
    build_server(settings).serve()
