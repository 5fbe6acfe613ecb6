"""The device cookie (OWASP): remembers, signed, which accounts signed in on this browser,
so failed attempts elsewhere cannot slow its owner down (see services/throttle.py)."""

from __future__ import annotations

import secrets

from flask import Response, current_app, request
from itsdangerous import BadSignature, URLSafeSerializer

from ..services.throttle import email_digest

COOKIE_NAME = "idp_device"
MAX_ACCOUNTS = 10
COOKIE_MAX_AGE_SECONDS = 365 * 24 * 3600


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt="idp-device-cookie")


def _read() -> dict:
    raw = request.cookies.get(COOKIE_NAME)
    if not raw or len(raw) > 4096:
        return {}
    try:
        data = _serializer().loads(raw)
    except BadSignature:
        return {}
    return data if isinstance(data, dict) else {}


def known_device(email: str) -> str | None:
    """This browser's device id if the account signed in here before, else None."""
    data = _read()
    if email_digest(email) in data.get("accounts", []):
        return data.get("device")
    return None


def remember_account(response: Response, email: str) -> None:
    data = _read()
    device = data.get("device") or secrets.token_urlsafe(16)
    digest = email_digest(email)
    known = [d for d in data.get("accounts", []) if d != digest][-(MAX_ACCOUNTS - 1) :]
    value = _serializer().dumps({"device": device, "accounts": [*known, digest]})
    response.set_cookie(
        COOKIE_NAME,
        value,
        max_age=COOKIE_MAX_AGE_SECONDS,
        path="/",
        secure=current_app.config["IDP"].https,
        httponly=True,
        samesite="Lax",
    )
