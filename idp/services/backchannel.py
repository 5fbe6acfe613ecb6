"""OpenID Connect Back-Channel Logout 1.0: tell the apps when a browser session ends.

Delivery never blocks the user's logout: logout tokens go to a small thread pool that
POSTs each with a few retries and backoff, and records the result in the audit log.
"""

from __future__ import annotations

import logging
import secrets
import time
from concurrent.futures import Future, ThreadPoolExecutor

import requests
from flask import Flask, current_app
from joserfc import jwt

from .. import clock
from ..extensions import db
from ..models import AuthorizationCode, BrowserSession, Client, RefreshToken
from . import audit, outbound
from .on_commit import on_commit

log = logging.getLogger("idp.security")
EVENT = "http://schemas.openid.net/event/backchannel-logout"
LOGOUT_TOKEN_TTL_SECONDS = 120
RETRY_DELAYS_SECONDS = (0.25, 1.0, 2.0)  # four attempts in all
REQUEST_TIMEOUT_SECONDS = 5
_pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="idp-backchannel")
_pending: list[Future] = []


def clients_of_session(session: BrowserSession) -> list[Client]:
    """Clients that received tokens in this session and registered a back-channel URI."""
    client_ids = set(
        db.session.execute(
            db.select(AuthorizationCode.client_id).where(
                AuthorizationCode.session_id == session.id, AuthorizationCode.used_at.is_not(None)
            )
        ).scalars()
    ) | set(
        db.session.execute(
            db.select(RefreshToken.client_id).where(RefreshToken.session_id == session.id)
        ).scalars()
    )
    if not client_ids:
        return []
    found = db.session.execute(db.select(Client).where(Client.client_id.in_(client_ids)))
    return [c for c in found.scalars() if c.client_metadata.get("backchannel_logout_uri")]


def logout_token(client: Client, session: BrowserSession) -> str:
    """A signed logout token (§2.4): iss, aud, iat, exp, jti, events, sub, sid; no nonce."""
    config = current_app.config["IDP"]
    now = int(clock.now())
    claims = {
        "iss": config.issuer,
        "aud": client.client_id,
        "iat": now,
        "exp": now + LOGOUT_TOKEN_TTL_SECONDS,
        "jti": secrets.token_urlsafe(16),
        "events": {EVENT: {}},
        "sub": str(session.user_id),
        "sid": str(session.id),
    }
    keys = current_app.extensions["idp.keys"].signing_keyset("RS256")
    return jwt.encode({"alg": "RS256", "typ": "logout+jwt"}, claims, keys)


def notify(session: BrowserSession) -> None:
    """Queue a logout token for every app that had tokens in the ended session; they are
    sent once the caller's transaction commits (never, if it rolls back)."""
    app = current_app._get_current_object()
    user_id = session.user_id
    deliveries = [
        (
            client.client_id,
            client.client_metadata["backchannel_logout_uri"],
            logout_token(client, session),
        )
        for client in clients_of_session(session)
    ]
    if deliveries:
        on_commit(lambda: _submit(app, deliveries, user_id))


def _submit(app: Flask, deliveries: list[tuple[str, str, str]], user_id) -> None:
    for client_id, uri, token in deliveries:
        _pending.append(_pool.submit(_deliver, app, client_id, uri, token, user_id))
    _pending[:] = [f for f in _pending if not f.done()]


def _deliver(app: Flask, client_id: str, uri: str, token: str, user_id) -> None:
    attempts = 0
    outcome = "no answer"
    with outbound.session(app) as http:
        for delay in (*RETRY_DELAYS_SECONDS, None):
            attempts += 1
            try:
                response = http.post(
                    uri, data={"logout_token": token}, timeout=REQUEST_TIMEOUT_SECONDS
                )
                if response.status_code in (200, 204):
                    _record(app, "backchannel_logout_delivered", client_id, user_id, attempts)
                    return
                outcome = f"HTTP {response.status_code}"
            except outbound.OutboundRefused as exc:
                outcome = f"refused: {exc}"
                break  # the rules will not change between attempts
            except (requests.RequestException, OSError, ValueError) as exc:
                outcome = type(exc).__name__
            if delay is not None:
                time.sleep(delay)
    _record(app, "backchannel_logout_failed", client_id, user_id, attempts, outcome)


def _record(
    app: Flask, event: str, client_id: str, user_id, attempts: int, outcome: str | None = None
) -> None:
    with app.app_context():
        details = {"attempts": attempts}
        if outcome:
            details["outcome"] = outcome
        audit.record(event, user_id=user_id, client_id=client_id, **details)
        db.session.commit()


def wait_for_deliveries(timeout: float = 15.0) -> None:
    """Block until queued logout tokens are delivered or given up (tests, shutdown)."""
    for future in list(_pending):
        future.result(timeout=timeout)
