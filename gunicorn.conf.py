"""gunicorn settings for idp: `gunicorn -c gunicorn.conf.py wsgi:app`.

Every value can be overridden by the environment variable named beside it.
"""

import multiprocessing
import os
import tempfile

# Prometheus multiprocess mode: each worker writes its metrics here; /metrics merges them.
os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", tempfile.mkdtemp(prefix="idp-metrics-"))

bind = os.environ.get("IDP_BIND", "0.0.0.0:8000")
# Signing tokens is CPU work: one worker per core, plus one to cover I/O waits.
workers = int(os.environ.get("IDP_WORKERS", multiprocessing.cpu_count() + 1))
worker_class = os.environ.get("IDP_WORKER_CLASS", "sync")
threads = int(os.environ.get("IDP_THREADS", "1"))
timeout = int(os.environ.get("IDP_TIMEOUT", "30"))
graceful_timeout = int(os.environ.get("IDP_GRACEFUL_TIMEOUT", "30"))
keepalive = int(os.environ.get("IDP_KEEPALIVE", "5"))
max_requests = int(os.environ.get("IDP_MAX_REQUESTS", "0"))  # 0: workers are not recycled
max_requests_jitter = max_requests // 10

# X-Forwarded-* are trusted only from these addresses (your TLS proxy), never from clients.
forwarded_allow_ips = os.environ.get("IDP_FORWARDED_ALLOW_IPS", "127.0.0.1,::1")
secure_scheme_headers = {"X-FORWARDED-PROTO": "https"}

# idp logs every request itself (JSON, with route, status, latency, client and request id,
# never a query string), so gunicorn's own access log is off unless IDP_ACCESS_LOG names a
# file ("-" for stdout): a second line per request cost the token endpoint ~4% of its time.
accesslog = os.environ.get("IDP_ACCESS_LOG") or None
access_log_format = (
    '{"time": "%(t)s", "remote": "%(h)s", "method": "%(m)s", "path": "%(U)s", '
    '"status": %(s)s, "bytes": %(B)s, "duration_us": %(D)s, '
    '"request_id": "%({x-request-id}o)s", "user_agent": "%(a)s"}'
)
errorlog = "-"
# gunicorn >= 25.1 opens a control socket under $HOME by default; idp's user has no writable
# home (the image's root filesystem is read-only to it), and workers are managed by signals.
control_socket_disable = True
loglevel = os.environ.get("IDP_LOG_LEVEL", "info").lower()


def child_exit(server, worker):
    """Drop a dead worker's live gauges from the merged metrics."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_starting(server):
    """Refuse a configuration that cannot serve (no signing key, bad URLs) once, in the
    master, with one line: not a traceback in every worker."""
    from idp.preflight import refuse_to_start

    refuse_to_start()
    # Several workers on the in-process store: a sign-in parked by one worker would be
    # unknown to the others. Checked here, so --workers on the command line counts too.
    count = server.cfg.workers
    if count > 1 and not os.environ.get("REDIS_URL"):
        raise SystemExit(
            f"idp: {count} workers need REDIS_URL (the in-process store serves one process); "
            "set REDIS_URL or IDP_WORKERS=1"
        )
