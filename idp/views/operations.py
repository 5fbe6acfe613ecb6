"""What operators and orchestrators poll: /healthz (the process answers), /readyz (the
database and the store answer and a signing key is loaded), /metrics (Prometheus, guarded by
IDP_METRICS_TOKEN and/or IDP_METRICS_ALLOW)."""

from __future__ import annotations

import ipaddress
import os
import secrets

from flask import Blueprint, Response, current_app, jsonify, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest, multiprocess

from ..services import health

bp = Blueprint("operations", __name__)
LOOPBACK = "127.0.0.0/8,::1/128"


@bp.get("/healthz")
def healthz():
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz():
    checks = health.readiness()
    ready = all(value == "ok" for value in checks.values())
    response = jsonify(status="ready" if ready else "not ready", checks=checks)
    response.status_code = 200 if ready else 503
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/metrics")
def metrics():
    config = current_app.config["IDP"]
    allow = config.metrics_allow
    if config.production and not allow and not config.metrics_token:
        allow = LOOPBACK  # production without either setting: only the host itself
    if allow and not _address_allowed(request.remote_addr, allow):
        return Response("forbidden\n", status=403, mimetype="text/plain")
    if config.metrics_token:
        presented = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        if not secrets.compare_digest(presented.encode(), config.metrics_token.encode()):
            return Response(
                "unauthorized\n",
                status=401,
                mimetype="text/plain",
                headers={"WWW-Authenticate": "Bearer"},
            )
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        body = generate_latest(registry)
    else:
        body = generate_latest()
    return Response(body, mimetype=CONTENT_TYPE_LATEST, headers={"Cache-Control": "no-store"})


def _address_allowed(address: str | None, allowed: str) -> bool:
    try:
        ip = ipaddress.ip_address(address or "")
    except ValueError:
        return False
    networks = [n.strip() for n in allowed.split(",") if n.strip()]
    return any(ip in ipaddress.ip_network(n, strict=False) for n in networks)
