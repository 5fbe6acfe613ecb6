"""Logs and metrics: what operators watch (views/operations.py serves /healthz, /readyz
and /metrics).

- One JSON object per log line (python-json-logger) with a request id, route, status,
  latency, client id and user id where known. Routes are logged, never URLs: query strings
  carry codes and tokens.
- Prometheus counters (prometheus-client; multiprocess mode when PROMETHEUS_MULTIPROC_DIR is
  set, as gunicorn.conf.py does), fed by request hooks and by audit events.
"""

from __future__ import annotations

import logging
import re
import secrets
import sys
import time

from flask import Flask, Response, g, request
from prometheus_client import Counter, Histogram
from pythonjsonlogger.json import JsonFormatter
from werkzeug.exceptions import HTTPException

REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")
REQUESTS = Counter("idp_http_requests_total", "HTTP requests", ["route", "method", "status"])
LATENCY = Histogram(
    "idp_http_request_duration_seconds",
    "HTTP request latency",
    ["route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
TOKENS = Counter("idp_tokens_issued_total", "Tokens issued", ["grant_type"])
LOGINS = Counter("idp_logins_total", "Sign-in attempts", ["result"])
REUSE = Counter("idp_refresh_token_reuse_total", "Refresh-token reuse detections")
RATE_LIMITED = Counter("idp_rate_limited_total", "Requests refused by rate limits", ["route"])

_EVENT_COUNTERS = {
    "login_success": lambda d: LOGINS.labels("success").inc(),
    "login_failure": lambda d: LOGINS.labels("failure").inc(),
    "tokens_issued": lambda d: TOKENS.labels(d.get("grant_type", "unknown")).inc(),
    "refresh_rotated": lambda d: TOKENS.labels("refresh_token").inc(),
    "token_exchanged": lambda d: TOKENS.labels("token_exchange").inc(),
    "refresh_token_reuse": lambda d: REUSE.inc(),
}


def count_event(event_type: str, details: dict) -> None:
    """Audit events that are also metrics (called by services.audit.record)."""
    counter = _EVENT_COUNTERS.get(event_type)
    if counter is not None:
        counter(details)


def count_rate_limited() -> None:
    RATE_LIMITED.labels(_route()).inc()


def configure_logging(level: str = "INFO") -> None:
    """JSON lines on stderr for every logger (idp, idp.security, gunicorn's error log)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        JsonFormatter(
            "%(asctime)s %(levelname)s %(name)s %(message)s",
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
        )
    )
    # The logging HOWTO's "Optimization": what no line here shows is not gathered for every
    # record (the caller's file and line, thread, process names).
    logging._srcfile = None  # noqa: SLF001 - the documented switch
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())  # IDP_LOG_LEVEL is shared with the server: any case


def observe_request(route: str, method: str, status: str, seconds: float) -> None:
    REQUESTS.labels(route, method, status).inc()
    LATENCY.labels(route).observe(seconds)


def _route() -> str:
    return request.url_rule.rule if request.url_rule else "unmatched"


def init_app(app: Flask) -> None:
    access_log = logging.getLogger("idp.access")

    @app.before_request
    def start_request():
        g.started = time.perf_counter()
        supplied = request.headers.get("X-Request-ID", "")
        g.request_id = supplied if REQUEST_ID.match(supplied) else secrets.token_hex(8)

    @app.after_request
    def finish_request(response: Response) -> Response:
        elapsed = time.perf_counter() - g.get("started", time.perf_counter())
        route = _route()
        response.headers["X-Request-ID"] = g.get("request_id", "")
        if route not in ("/metrics", "/healthz", "/readyz"):
            observe_request(route, request.method, str(response.status_code), elapsed)
        browser_session = g.get("browser_session")
        access_log.info(
            "request",
            extra={
                "request_id": g.get("request_id"),
                "method": request.method,
                "route": route,
                "status": response.status_code,
                "latency_ms": round(elapsed * 1000, 2),
                "client_id": _client_id(),
                "user_id": str(browser_session.user_id) if browser_session else None,
            },
        )
        return response


def _client_id() -> str | None:
    """The client a protocol request came from: the one that authenticated, else the one
    it names (never a secret)."""
    authenticated = g.get("authenticated_client_id")
    if authenticated:
        return authenticated
    value = None
    if request.method == "POST":
        try:
            value = request.form.get("client_id")
        except HTTPException:  # a body refused as too large (413): the log still gets written
            value = None
    value = value or request.args.get("client_id")
    return value[:48] if isinstance(value, str) else None
