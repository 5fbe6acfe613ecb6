"""Authorization codes: save hashed, look up, consume exactly once."""

from __future__ import annotations

import hashlib
from datetime import timedelta

from authlib.oauth2.rfc6749 import OAuth2Request
from flask import current_app

from ..extensions import db
from ..models import AuthorizationCode, BrowserSession
from ..models.base import utcnow
from . import audit
from .mfa import acr_for


def _hash(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


def save_code(code: str, request: OAuth2Request, session: BrowserSession) -> AuthorizationCode:
    """Store the code hashed, bound to client, user, redirect URI, PKCE and session."""
    data = request.payload.data
    config = current_app.config["IDP"]
    item = AuthorizationCode(
        code=_hash(code),
        client_id=request.client.client_id,
        redirect_uri=data.get("redirect_uri") or "",
        response_type=data.get("response_type") or "code",
        scope=request.scope or "",
        nonce=data.get("nonce"),
        auth_time=int(session.auth_time.timestamp()),
        amr=" ".join(session.amr or []),
        acr=acr_for(session.amr),
        code_challenge=data.get("code_challenge"),
        code_challenge_method=data.get("code_challenge_method"),
        user_id=request.user.id,
        session_id=session.id,
        expires_at=utcnow() + timedelta(seconds=config.code_ttl),
    )
    db.session.add(item)
    audit.record("code_issued", user_id=item.user_id, client_id=item.client_id, scope=item.scope)
    db.session.commit()
    return item


def find_code(code: str, client_id: str) -> AuthorizationCode | None:
    """Return the code issued to this client whatever its state, else None."""
    if not code or len(code) > 256:
        return None
    return db.session.execute(
        db.select(AuthorizationCode).filter_by(code=_hash(code), client_id=client_id)
    ).scalar_one_or_none()


def consume_code(item: AuthorizationCode) -> bool:
    """Mark the code used; True for exactly one caller across all processes.

    Not committed here: what the exchange issues is staged in the same transaction, so a
    concurrent exchange waits on the row lock and then finds the tokens to revoke.
    """
    now = utcnow()
    result = db.session.execute(
        db.update(AuthorizationCode)
        .where(
            AuthorizationCode.id == item.id,
            AuthorizationCode.used_at.is_(None),
            AuthorizationCode.expires_at > now,
        )
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


def nonce_was_used(client_id: str, nonce: str) -> bool:
    """True when a code was already issued to this client with this nonce."""
    return (
        db.session.execute(
            db.select(AuthorizationCode.id).filter_by(client_id=client_id, nonce=nonce).limit(1)
        ).first()
        is not None
    )
