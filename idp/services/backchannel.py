"""OpenID Connect Back-Channel Logout 1.0: tell the apps when a browser session ends.

Delivery never blocks the user's logout: the end of the session stages one outbox row per
client, committed with it; a drain (services/outbox.py) signs a fresh logout token for
each attempt, POSTs it with retries and backoff that survive restarts, and records the
result in the audit log.
"""

from __future__ import annotations

import logging
import secrets
import uuid

import requests
from flask import current_app
from joserfc import jwt

from .. import clock
from ..extensions import db
from ..models import AuthorizationCode, BrowserSession, Client, RefreshToken
from . import audit, outbound, outbox

log = logging.getLogger("idp.security")
EVENT = "http://schemas.openid.net/event/backchannel-logout"
LOGOUT_TOKEN_TTL_SECONDS = 120
RETRY_DELAYS_SECONDS = (0.25, 1.0, 2.0)  # four attempts in all
REQUEST_TIMEOUT_SECONDS = 5
KIND = "backchannel_logout"


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


def logout_token(client: Client, user_id, session_id) -> str:
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
        "sub": str(user_id),
        "sid": str(session_id),
    }
    keys = current_app.extensions["idp.keys"].signing_keyset("RS256")
    return jwt.encode({"alg": "RS256", "typ": "logout+jwt"}, claims, keys)


def notify(session: BrowserSession) -> None:
    """Stage a logout for every app that had tokens in the ended session; the caller commits."""
    for client in clients_of_session(session):
        outbox.enqueue(
            KIND,
            {"client_id": client.client_id, "sub": str(session.user_id), "sid": str(session.id)},
        )


def _deliver(payload: dict, _attempt: int) -> None:
    client = db.session.execute(
        db.select(Client).filter_by(client_id=payload["client_id"])
    ).scalar_one_or_none()
    uri = client.client_metadata.get("backchannel_logout_uri") if client is not None else None
    if not uri:
        raise outbox.GiveUp("the client or its back-channel logout URI is gone")
    # Signed now, not when queued: a retry after a restart still carries a fresh token.
    token = logout_token(client, payload["sub"], payload["sid"])
    db.session.rollback()  # no transaction held while the client answers
    try:
        with outbound.session(current_app._get_current_object()) as http:
            response = http.post(uri, data={"logout_token": token}, timeout=REQUEST_TIMEOUT_SECONDS)
    except outbound.OutboundRefused as exc:
        raise outbox.GiveUp(f"refused: {exc}") from None  # the rules will not change
    except (requests.RequestException, OSError, ValueError) as exc:
        raise outbox.RetryLater(type(exc).__name__) from None
    if response.status_code not in (200, 204):
        raise outbox.RetryLater(f"HTTP {response.status_code}")


def _delivered(payload: dict, attempts: int) -> None:
    _record("backchannel_logout_delivered", payload, attempts)


def _failed(payload: dict, attempts: int, outcome: str) -> None:
    _record("backchannel_logout_failed", payload, attempts, outcome)


def _record(event: str, payload: dict, attempts: int, outcome: str | None = None) -> None:
    details = {"attempts": attempts}
    if outcome:
        details["outcome"] = outcome
    user_id = uuid.UUID(payload["sub"])
    audit.record(event, user_id=user_id, client_id=payload["client_id"], **details)


outbox.register(
    KIND,
    outbox.Kind(
        deliver=_deliver,
        delays=RETRY_DELAYS_SECONDS,
        on_success=_delivered,
        on_give_up=_failed,
    ),
)
