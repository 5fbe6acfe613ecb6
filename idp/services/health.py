"""Readiness: can this process serve? The database and the short-lived store answer (and the
revocation cache is complete again after a Redis restart), and a signing key is loaded."""

from __future__ import annotations

from flask import current_app
from sqlalchemy import text

from ..extensions import db
from . import blocklist


def readiness() -> dict[str, str]:
    """Each dependency's state: "ok", or the name of the error that stopped it."""
    checks = {}
    try:
        db.session.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:  # noqa: BLE001 - any failure means not ready
        checks["database"] = type(exc).__name__
    try:
        current_app.extensions["idp.store"].ping()
        blocklist.ensure_cache()
        checks["store"] = "ok"
    except Exception as exc:  # noqa: BLE001
        checks["store"] = type(exc).__name__
    checks["signing_key"] = "ok" if current_app.extensions["idp.keys"].algorithms else "missing"
    return checks
